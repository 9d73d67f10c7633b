/**
 * The rules-file schema: one TypeBox definition gives both the JSON Schema used to
 * validate files and the TypeScript types the engine compiles from.
 * This is the foundation's subset (tumbling windows, basic aggregates); the full
 * reference lives in docs/RULES.md once the rules issue lands.
 */
import { type Static, Type } from "@sinclair/typebox";
import { DURATION_PATTERN } from "./duration.js";

export const Duration = Type.String({
  pattern: DURATION_PATTERN,
  description: 'a duration such as "500ms", "30s", "5m" or "1h"',
});

/** A string enum as plain JSON Schema `enum` (clearer errors and editor completion than anyOf/const). */
export function StringEnum<const T extends readonly string[]>(values: T, description?: string) {
  return Type.Unsafe<T[number]>({ type: "string", enum: [...values], description });
}

export const AGGREGATE_NAMES = ["count", "mean", "min", "max"] as const;
export const AggregateName = StringEnum(AGGREGATE_NAMES, "an aggregate computed over each window");

export const TumblingWindow = Type.Object(
  {
    type: Type.Literal("tumbling"),
    size: Type.Optional(Duration),
  },
  { additionalProperties: false },
);

export const Rule = Type.Object(
  {
    name: Type.String({
      pattern: "^[A-Za-z0-9_.-]+$",
      description: "letters, digits, '_', '.' or '-' (it becomes an MQTT topic level)",
    }),
    sensors: Type.Optional(
      Type.String({ description: "glob on the sensor id; '*' matches any run of characters" }),
    ),
    window: Type.Optional(TumblingWindow),
    allowedLateness: Type.Optional(Duration),
    aggregates: Type.Optional(Type.Array(AggregateName, { minItems: 1, uniqueItems: true })),
  },
  { additionalProperties: false },
);

export const RulesFile = Type.Object(
  {
    rules: Type.Array(Rule, { minItems: 1 }),
  },
  { additionalProperties: false },
);

export type RuleSpec = Static<typeof Rule>;
export type RulesFileSpec = Static<typeof RulesFile>;
export type AggregateKind = Static<typeof AggregateName>;
