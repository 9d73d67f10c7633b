/** `npm run schema`: writes rules/schema.json from the TypeBox source (see rules/json-schema.ts). */
import { writeFileSync } from "node:fs";
import { rulesJsonSchemaText } from "../rules/json-schema.js";

const target = new URL("../rules/schema.json", import.meta.url);
writeFileSync(target, rulesJsonSchemaText());
console.log(`wrote ${target.pathname}`);
