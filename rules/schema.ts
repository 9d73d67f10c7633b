/**
 * The rules-file schema: one TypeBox definition gives both the JSON Schema used to
 * validate files and the TypeScript types the engine compiles from.
 */
import { type Static, type TProperties, type TSchema, Type } from "@sinclair/typebox";
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

export const SEVERITIES = ["info", "warning", "critical"] as const;

/** Every detector's alert lifecycle: how long an alert stays open, and its severity. */
const lifecycle = {
  cooldown: Type.Optional(Duration),
  cooldownReadings: Type.Optional(
    Type.Integer({
      minimum: 0,
      description: "the least number of readings an alert stays open (beside cooldown)",
    }),
  ),
  clearAfter: Type.Optional(Duration),
  severity: Type.Optional(
    StringEnum(SEVERITIES, "the severity its alerts carry (default warning)"),
  ),
};

/** A detector's schema: its `type` (described), its own settings, then the alert lifecycle's. */
function detectorSchema<T extends string, P extends TProperties>(
  type: T,
  description: string,
  settings: P,
) {
  return Type.Object(
    { type: Type.Literal(type, { description }), ...settings, ...lifecycle },
    { additionalProperties: false },
  );
}

const threshold = (dflt: number, description: string) =>
  Type.Optional(Type.Number({ exclusiveMinimum: 0, default: dflt, description }));
const minSamples = (dflt: number) =>
  Type.Optional(
    Type.Integer({ minimum: 2, default: dflt, description: "readings seen before it judges any" }),
  );

export const ZScoreDetector = detectorSchema(
  "zscore",
  "a reading further than `threshold` standard deviations from the mean of the readings before it",
  {
    threshold: threshold(3, "in standard deviations"),
    minSamples: minSamples(10),
    n: Type.Optional(
      Type.Integer({
        minimum: 2,
        maximum: 10_000,
        description: "over the last n readings (default: the rule's count window)",
      }),
    ),
    over: Type.Optional(Duration),
  },
);

export const FlatlineDetector = detectorSchema(
  "flatline",
  "a stuck sensor: no change beyond `epsilon` for `duration` or `samples` readings",
  {
    epsilon: Type.Optional(
      Type.Number({
        minimum: 0,
        default: 0,
        description: "the largest spread of values still counted as no change",
      }),
    ),
    duration: Type.Optional(Duration),
    samples: Type.Optional(Type.Integer({ minimum: 2, description: "readings in a row" })),
  },
);

export const EwmaDetector = detectorSchema(
  "ewma",
  "a reading (or, with shortHalfLife, the recent level) far from the exponentially weighted mean, in standard deviations",
  {
    halfLife: Type.Optional(
      Type.Number({
        minimum: 1,
        default: 300,
        description: "in readings: how fast the baseline moves",
      }),
    ),
    shortHalfLife: Type.Optional(
      Type.Number({
        minimum: 1,
        description: "in readings: also compare the recent level with the baseline (level shifts)",
      }),
    ),
    threshold: threshold(5, "in standard deviations"),
    minSamples: minSamples(30),
  },
);

export const MadDetector = detectorSchema(
  "mad",
  "a robust z-score: distance from the median of the last n readings in median absolute deviations",
  {
    n: Type.Optional(
      Type.Integer({ minimum: 3, maximum: 10_000, default: 60, description: "readings" }),
    ),
    threshold: threshold(3.5, "modified z-score, 0.6745 × |x − median| / MAD"),
    minSamples: minSamples(10),
  },
);

export const RangeDetector = detectorSchema(
  "range",
  "a reading, or its short moving average, outside the range of the last n readings by more than a margin of that range",
  {
    n: Type.Optional(
      Type.Integer({
        minimum: 20,
        maximum: 100_000,
        default: 1000,
        description: "readings the range spans",
      }),
    ),
    margin: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        default: 0.02,
        description: "how far beyond the range a reading must be, as a fraction of the range",
      }),
    ),
    smoothMargin: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        default: 0.05,
        description: "the same for the moving average",
      }),
    ),
    halfLife: Type.Optional(
      Type.Number({
        minimum: 1,
        default: 10,
        description: "in readings: the moving average's half-life",
      }),
    ),
    minSamples: minSamples(30),
  },
);

export const ThresholdDetector = detectorSchema(
  "threshold",
  "a reading above `high` or below `low`, with clear levels and a for-duration",
  {
    high: Type.Optional(Type.Number({ description: "alert above this level" })),
    highClear: Type.Optional(
      Type.Number({ description: "an open high alert clears at or below this (default high)" }),
    ),
    low: Type.Optional(Type.Number({ description: "alert below this level" })),
    lowClear: Type.Optional(
      Type.Number({ description: "an open low alert clears at or above this (default low)" }),
    ),
    for: Type.Optional(Duration),
  },
);

export const RateDetector = detectorSchema(
  "rate",
  "a change between consecutive readings faster than `limit` per `per`",
  {
    limit: Type.Number({ exclusiveMinimum: 0, description: "the largest normal change per `per`" }),
    per: Type.Optional(Duration),
    direction: Type.Optional(
      StringEnum(["both", "rising", "falling"] as const, "which changes count (default both)"),
    ),
  },
);

export const SilenceDetector = Type.Object(
  {
    type: Type.Literal("silence", {
      description: "no reading of a key for `gap` (processing time); resolved when readings return",
    }),
    gap: Duration,
    severity: lifecycle.severity,
  },
  { additionalProperties: false },
);

const Part = OneOfByType([
  ZScoreDetector,
  FlatlineDetector,
  EwmaDetector,
  MadDetector,
  RangeDetector,
  ThresholdDetector,
  RateDetector,
]);

export const CompositeDetector = detectorSchema(
  "composite",
  "several detectors judged together: any, all, k of them, or their max score",
  {
    mode: Type.Optional(
      StringEnum(
        ["any", "all", "k-of-n", "max"] as const,
        "fires when any, all, or k of its detectors fire, or when the max score reaches `threshold`",
      ),
    ),
    k: Type.Optional(Type.Integer({ minimum: 1, description: "for k-of-n" })),
    threshold: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        exclusiveMaximum: 1,
        description: "for max: the score, in [0, 1], it fires at (default 0.5)",
      }),
    ),
    detectors: Type.Array(Part, { minItems: 2, maxItems: 31 }),
  },
);

/** One of the detectors, chosen by `type`. */
export const Detector = OneOfByType([
  ZScoreDetector,
  FlatlineDetector,
  EwmaDetector,
  MadDetector,
  RangeDetector,
  ThresholdDetector,
  RateDetector,
  SilenceDetector,
  CompositeDetector,
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
export type DetectorSpec = Static<typeof Detector>;
export type PartSpec = Static<typeof Part>;
export type RuleSpec = Static<typeof Rule>;
export type RulesFileSpec = Static<typeof RulesFile>;
