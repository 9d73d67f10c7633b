/**
 * The rules-file schema: one TypeBox definition gives both the JSON Schema used to
 * validate files and the TypeScript types the engine compiles from.
 */
import { type Static, Type } from "@sinclair/typebox";
import { Duration, OneOfByType, StringEnum } from "./schema-common.js";
import { Detector } from "./schema-detectors.js";

export type { DetectorSpec, PartSpec } from "./schema-detectors.js";
export { Detector, Duration, OneOfByType, StringEnum };

export const SIMPLE_AGGREGATE_NAMES = [
  "count",
  "sum",
  "mean",
  "min",
  "max",
  "variance",
  "stddev",
  "first",
  "last",
  "rate",
] as const;
export const QUANTILE_NAME_PATTERN = "^p(100|[0-9]{1,2}(\\.[0-9]+)?)$";

/** Names users reach for, mapped to Brook's, for "did you mean" hints. */
const AGGREGATE_ALIASES = {
  median: "p50",
  avg: "mean",
  average: "mean",
  std: "stddev",
  sd: "stddev",
  var: "variance",
  n: "count",
  total: "sum",
};

export const AggregateName = Type.Union(
  [
    StringEnum(SIMPLE_AGGREGATE_NAMES, "an aggregate computed over each window"),
    Type.String({
      pattern: QUANTILE_NAME_PATTERN,
      description: "a quantile such as p50, p95 or p99.9",
    }),
  ],
  { description: "an aggregate", "x-aliases": AGGREGATE_ALIASES },
);

const windowType = <T extends string>(type: T, description: string) =>
  Type.Literal(type, { description });

export const TumblingWindow = Type.Object(
  {
    type: windowType(
      "tumbling",
      "fixed, non-overlapping windows of `size`, aligned to the epoch (+ offset)",
    ),
    size: Type.Optional(Duration),
    offset: Type.Optional(Duration),
  },
  { additionalProperties: false },
);

export const HoppingWindow = Type.Object(
  {
    type: windowType(
      "hopping",
      "windows of `size` starting every `hop`, aligned to the epoch (+ offset)",
    ),
    size: Duration,
    hop: Duration,
    offset: Type.Optional(Duration),
  },
  { additionalProperties: false },
);

export const SlidingWindow = Type.Object(
  {
    type: windowType(
      "sliding",
      "on every reading, the aggregate over the last `size` of event time",
    ),
    size: Duration,
    resolution: Type.Optional(Duration),
  },
  { additionalProperties: false },
);

export const CountWindow = Type.Object(
  {
    type: windowType("count", "the last `n` readings, emitted every `every` readings"),
    n: Type.Integer({ minimum: 1, maximum: 100_000 }),
    every: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);

export const SessionWindow = Type.Object(
  {
    type: windowType("session", "readings closer than `gap` to each other, cut at `maxDuration`"),
    gap: Duration,
    maxDuration: Type.Optional(Duration),
  },
  { additionalProperties: false },
);

/** One of the window types, chosen by `type`, so errors come from that type's schema alone. */
export const Window = OneOfByType([
  TumblingWindow,
  HoppingWindow,
  SlidingWindow,
  CountWindow,
  SessionWindow,
]);

export const OUTPUT_PRIORITIES = ["bulk", "aggregate", "alert"] as const;

export const Outputs = Type.Object(
  {
    local: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          "publish each result on the edge broker at this topic: {device}, {rule}, {key} and {kind} are filled in",
      }),
    ),
    upstream: Type.Optional(
      Type.Boolean({ default: true, description: "forward results to the cloud broker" }),
    ),
    localAlerts: Type.Optional(
      Type.Boolean({
        default: true,
        description:
          "publish alerts on the edge broker as they open and resolve: at `local` if set, else at brook/{device}/alert/{rule}/{key}",
      }),
    ),
    priority: Type.Optional(
      StringEnum(
        OUTPUT_PRIORITIES,
        "the upstream priority of this rule's aggregates (alerts always go as alert, late readings as bulk)",
        { high: "alert", normal: "aggregate", low: "bulk" },
      ),
    ),
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
    window: Type.Optional(Window),
    allowedLateness: Type.Optional(Duration),
    idleTimeout: Type.Optional(Duration),
    aggregates: Type.Optional(
      Type.Array(AggregateName, {
        uniqueItems: true,
        description: "what each window reports; [] for a rule that only runs detectors",
      }),
    ),
    detectors: Type.Optional(Type.Array(Detector)),
    outputs: Type.Optional(Outputs),
    source: Type.Optional(
      Type.String({ description: "only readings of this source (default: every source)" }),
    ),
    tags: Type.Optional(
      Type.Record(Type.String(), Type.String(), {
        description: "only readings whose tags have these values",
      }),
    ),
    filter: Type.Optional(
      Type.Object(
        {
          min: Type.Optional(Type.Number({ description: "ignore readings below this value" })),
          max: Type.Optional(Type.Number({ description: "ignore readings above this value" })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const Source = Type.Object(
  {
    name: Type.String({
      pattern: "^[A-Za-z0-9_.-]+$",
      description: "letters, digits, '_', '.' or '-'",
    }),
    topic: Type.String({
      minLength: 1,
      description: "an MQTT topic filter: '+' a whole level, '#' only last",
    }),
    format: Type.Optional(
      StringEnum(["json", "senml", "number", "influx"] as const, "how payloads are written"),
    ),
    sensor: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          "the sensor id: {0} is the first topic level, {topic} the whole topic; senml adds {name}, influx {measurement} and {field}",
      }),
    ),
    fields: Type.Optional(
      Type.Object(
        {
          value: Type.Optional(
            Type.String({ description: "json: dotted path of the value (default value)" }),
          ),
          time: Type.Optional(
            Type.String({ description: "json: dotted path of the time (default ts)" }),
          ),
          sensor: Type.Optional(
            Type.String({
              description: "json: dotted path of the sensor id (instead of the topic)",
            }),
          ),
          tags: Type.Optional(
            Type.Record(Type.String(), Type.String(), {
              description: "json: tag name → dotted path",
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    time: Type.Optional(
      StringEnum(["ms", "s", "iso8601"] as const, "how times are written (json)"),
    ),
    scale: Type.Optional(
      Type.Object(
        { factor: Type.Optional(Type.Number()), offset: Type.Optional(Type.Number()) },
        { additionalProperties: false, description: "value × factor + offset" },
      ),
    ),
  },
  { additionalProperties: false },
);

export const RulesFile = Type.Object(
  {
    sources: Type.Optional(Type.Array(Source, { minItems: 1 })),
    rules: Type.Array(Rule, { minItems: 1 }),
  },
  { additionalProperties: false },
);

export type SourceSpec = Static<typeof Source>;

export type WindowSpec = Static<typeof Window>;
export type RuleSpec = Static<typeof Rule>;
export type RulesFileSpec = Static<typeof RulesFile>;
