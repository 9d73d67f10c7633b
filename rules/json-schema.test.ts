import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { Ajv } from "ajv";
import { parse } from "yaml";
import { rulesJsonSchemaText } from "./json-schema.js";

const schemaText = readFileSync(new URL("./schema.json", import.meta.url), "utf8");

describe("rules/schema.json", () => {
  it("is exactly what the TypeBox source generates (run `npm run schema` after changing rules/schema.ts)", () => {
    strictEqual(schemaText, rulesJsonSchemaText());
  });

  it("accepts every example, read as an editor reads it (a plain JSON Schema validator)", () => {
    const examples = new URL("./examples/", import.meta.url);
    const validate = new Ajv({ strict: false, allErrors: true }).compile(JSON.parse(schemaText));
    for (const file of readdirSync(examples).filter((f) => f.endsWith(".yaml"))) {
      validate(parse(readFileSync(new URL(file, examples), "utf8")));
      deepStrictEqual(validate.errors ?? [], [], file);
    }
  });
});
