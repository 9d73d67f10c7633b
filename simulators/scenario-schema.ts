/** The scenario file's schema (simulators/scenarios/*.yaml): one TypeBox definition, JSON Schema and types. */
import { type Static, type TProperties, Type } from "@sinclair/typebox";
import { BYTE_SIZE_PATTERN, DURATION_PATTERN } from "../rules/duration.js";
import { Duration, OneOfByType, StringEnum } from "../rules/schema.js";
import { SENSOR_KINDS } from "./models.js";

export const ANOMALY_TYPES = [
  "spike",
  "dip",
  "level-shift",
  "drift",
  "stuck",
  "silence",
  "noise-burst",
] as const;
export type AnomalyType = (typeof ANOMALY_TYPES)[number];

export const FAULT_TYPES = [
  "out-of-order",
  "duplicate",
  "offline",
  "clock-skew",
  "malformed",
  "oversized",
] as const;
export type FaultType = (typeof FAULT_TYPES)[number];

export const PAYLOAD_FORMATS = ["json", "senml", "number", "influx"] as const;
export type PayloadFormat = (typeof PAYLOAD_FORMATS)[number];

const DeviceRef = Type.Union([Type.Integer({ minimum: 1 }), Type.Literal("all")], {
  description: 'a device number from 1, or "all"',
});
const Rate = Type.Number({
  exclusiveMinimum: 0,
  maximum: 1,
  description: "the fraction of readings affected, in (0, 1]",
});
const SignedDuration = Type.String({
  pattern: `^-?${DURATION_PATTERN.slice(1)}`,
  description: 'a duration, maybe negative: "30s", "-2m"',
});

const Anomaly = Type.Object(
  {
    type: StringEnum(ANOMALY_TYPES, "the kind of trouble injected"),
    at: Duration,
    duration: Type.Optional(Duration),
    every: Type.Optional(Duration),
    count: Type.Optional(Type.Integer({ minimum: 1 })),
    device: Type.Optional(DeviceRef),
    sensor: Type.Optional(
      Type.Union([StringEnum(SENSOR_KINDS, "a sensor kind of the scenario"), Type.Literal("all")]),
    ),
    magnitude: Type.Optional(Type.Number({ description: "the size, in the sensor's unit" })),
  },
  { additionalProperties: false },
);

const Delay = Type.Object(
  {
    distribution: Type.Optional(StringEnum(["exponential", "uniform", "fixed"] as const)),
    mean: Type.Optional(Duration),
    min: Type.Optional(Duration),
    max: Type.Optional(Duration),
  },
  { additionalProperties: false },
);

function rateFault<T extends string, P extends TProperties = Record<never, never>>(
  type: T,
  extra?: P,
) {
  return Type.Object(
    {
      type: Type.Literal(type),
      rate: Rate,
      device: Type.Optional(DeviceRef),
      ...((extra ?? {}) as P),
    },
    { additionalProperties: false },
  );
}

const Fault = OneOfByType([
  rateFault("out-of-order", { delay: Type.Optional(Delay) }),
  rateFault("duplicate", { delay: Type.Optional(Duration) }),
  Type.Object(
    {
      type: Type.Literal("offline"),
      device: DeviceRef,
      at: Duration,
      duration: Duration,
      buffer: Type.Optional(Type.Boolean({ description: "send the held readings when back" })),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    { type: Type.Literal("clock-skew"), device: Type.Optional(DeviceRef), skew: SignedDuration },
    { additionalProperties: false },
  ),
  rateFault("malformed"),
  rateFault("oversized", {
    bytes: Type.Optional(
      Type.Union([
        Type.Integer({ minimum: 1 }),
        Type.String({ pattern: BYTE_SIZE_PATTERN, description: 'a size such as "256KiB"' }),
      ]),
    ),
  }),
]);

export const ScenarioFile = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1 })),
    description: Type.Optional(Type.String()),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967295 })),
    start: Type.Optional(
      Type.String({ description: 'an ISO 8601 time such as "2026-01-01T00:00:00Z", or "now"' }),
    ),
    duration: Type.Optional(Duration),
    interval: Type.Optional(Duration),
    devices: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
    sensors: Type.Optional(
      Type.Array(StringEnum(SENSOR_KINDS, "a sensor kind"), { minItems: 1, uniqueItems: true }),
    ),
    format: Type.Optional(StringEnum(PAYLOAD_FORMATS, "how payloads are written")),
    topic: Type.Optional(
      Type.String({
        pattern:
          "^[^+#]*\\{device\\}[^+#]*\\{sensor\\}[^+#]*$|^[^+#]*\\{sensor\\}[^+#]*\\{device\\}[^+#]*$",
        description: "a topic naming {device} and {sensor}, without '+' or '#'",
      }),
    ),
    anomalies: Type.Optional(Type.Array(Anomaly)),
    faults: Type.Optional(Type.Array(Fault)),
  },
  { additionalProperties: false },
);

export type ScenarioSpec = Static<typeof ScenarioFile>;
export type AnomalySpec = Static<typeof Anomaly>;
export type FaultSpec = ScenarioSpec extends { faults?: (infer F)[] } ? F : never;
