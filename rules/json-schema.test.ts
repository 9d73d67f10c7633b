import { strictEqual } from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { rulesJsonSchemaText } from "./json-schema.js";

describe("rules/schema.json", () => {
  it("is exactly what the TypeBox source generates (run `npm run schema` after changing rules/schema.ts)", () => {
    strictEqual(
      readFileSync(new URL("./schema.json", import.meta.url), "utf8"),
      rulesJsonSchemaText(),
    );
  });
});
