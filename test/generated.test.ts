import { strictEqual } from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { validatorFiles } from "../scripts/validators.js";

describe("generated validators", () => {
  it("each is exactly what its TypeBox schema compiles to (run `npm run schema` after changing a schema)", () => {
    for (const { path, text } of validatorFiles())
      strictEqual(readFileSync(new URL(`../${path}`, import.meta.url), "utf8"), text, path);
  });
});
