/**
 * The JSON Schema of rules files, as published at rules/schema.json for editors
 * (yaml-language-server, VS Code): generated from the TypeBox definitions in schema.ts,
 * the same source the loader validates with, so there is no second copy to keep in step.
 */
import { RulesFile } from "./schema.js";

export function rulesJsonSchema(): object {
  return {
    $schema: "http://json-schema.org/draft-07/schema#",
    title: "Brook rules file",
    description:
      "Rules for the Brook edge agent: which sensors, which window, which aggregates and detectors.",
    ...JSON.parse(JSON.stringify(RulesFile)),
  };
}

export function rulesJsonSchemaText(): string {
  return `${JSON.stringify(rulesJsonSchema(), null, 2)}\n`;
}
