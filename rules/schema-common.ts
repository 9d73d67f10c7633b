/** Building blocks of the rules-file schema (and the simulator's scenario schema). */
import { type Static, type TSchema, Type } from "@sinclair/typebox";
import { DURATION_PATTERN } from "./duration.js";

/** A string enum as plain JSON Schema `enum` (clearer errors and editor completion than anyOf/const). */
export function StringEnum<const T extends readonly string[]>(
  values: T,
  description?: string,
  aliases?: Record<string, T[number]>,
) {
  return Type.Unsafe<T[number]>({
    type: "string",
    enum: [...values],
    description,
    ...(aliases === undefined ? {} : { "x-aliases": aliases }),
  });
}

/**
 * One of several object schemas, chosen by their `type` field (a JSON Schema discriminator),
 * so a file's errors come from the chosen schema alone.
 */
export function OneOfByType<const T extends readonly TSchema[]>(branches: T) {
  return Type.Unsafe<Static<T[number]>>({
    type: "object",
    required: ["type"],
    discriminator: { propertyName: "type" },
    oneOf: [...branches],
  });
}

export const Duration = Type.String({
  pattern: DURATION_PATTERN,
  description: 'a duration such as "500ms", "30s", "5m" or "1h"',
});
