/**
 * `npm run schema`: writes rules/schema.json from the TypeBox source (see
 * rules/json-schema.ts) and the validators compiled from the same schemas
 * (scripts/validators.ts).
 */
import { writeFileSync } from "node:fs";
import { rulesJsonSchemaText } from "../rules/json-schema.js";
import { validatorFiles } from "./validators.js";

const target = new URL("../rules/schema.json", import.meta.url);
writeFileSync(target, rulesJsonSchemaText());
console.log(`wrote ${target.pathname}`);
for (const { path, text } of validatorFiles()) {
  const file = new URL(`../${path}`, import.meta.url);
  writeFileSync(file, text);
  console.log(`wrote ${file.pathname}`);
}
