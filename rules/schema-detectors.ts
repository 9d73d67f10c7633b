/** The detectors of the rules-file schema, each with its settings and the alert lifecycle's. */
import { type Static, type TProperties, Type } from "@sinclair/typebox";
import { Duration, OneOfByType, StringEnum } from "./schema-common.js";

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

export const Part = OneOfByType([
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

export type DetectorSpec = Static<typeof Detector>;
export type PartSpec = Static<typeof Part>;
