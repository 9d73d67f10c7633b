import { deepStrictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { DEFAULT_SENSOR } from "../../rules/defaults.js";
import { parseTime, type SourcePlan, sensorFromTopic } from "./common.js";
import { DEFAULT_SOURCE, decodePayload } from "./decode.js";

const NOW = 1_700_000_000_000;
const plan = (over: Partial<SourcePlan>): SourcePlan => ({
  ...DEFAULT_SOURCE,
  sensor: DEFAULT_SENSOR[over.format ?? "json"],
  ...over,
});
const decode = (p: SourcePlan, topic: string, payload: string) =>
  decodePayload(p, topic, Buffer.from(payload), NOW);

describe("payload formats", () => {
  it("json: field paths, an array of readings, tags, time formats and unit scaling", () => {
    const p = plan({
      valuePath: "data.t",
      timePath: "at",
      timeFormat: "iso8601",
      sensorPath: "id",
      tagPaths: { line: "meta.line" },
      factor: 0.1,
      offset: -40,
    });
    deepStrictEqual(
      decode(
        p,
        "factory/x",
        JSON.stringify([
          {
            id: "pump-1/temp",
            at: "2023-11-14T22:13:20.000Z",
            data: { t: 650 },
            meta: { line: "A" },
          },
          { id: "pump-2/temp", at: "yesterday", data: { t: 1 } },
          { id: "pump-3/temp", data: { t: "hot" } },
        ]),
      ),
      {
        readings: [{ sensor: "pump-1/temp", ts: NOW, value: 25, tags: { line: "A" } }],
        dead: [
          { reason: "bad_ts", detail: 'at is not a time (iso8601): "yesterday"' },
          { reason: "bad_value", detail: 'data.t must be a finite number, got "hot"' },
        ],
      },
    );
  });

  it("json: the sensor id from topic levels, seconds as time, arrival time when absent", () => {
    const p = plan({ sensor: "{1}-{3}", timeFormat: "s" });
    deepStrictEqual(decode(p, "site/plant-7/line/4", '{"ts": 1700000000.5, "value": 3}').readings, [
      { sensor: "plant-7-4", ts: NOW + 500, value: 3 },
    ]);
    deepStrictEqual(decode(p, "site/plant-7/line/4", '{"value": 3}').readings, [
      { sensor: "plant-7-4", ts: NOW, value: 3 },
    ]);
    deepStrictEqual(decode(p, "short/topic", '{"value": 3}').dead, [
      { reason: "bad_sensor", detail: 'topic short/topic does not fit "{1}-{3}"' },
    ]);
  });

  it("number: a plain-text number on a topic", () => {
    const p = plan({ format: "number", sensor: "{1}" });
    deepStrictEqual(decode(p, "meter/kitchen", " 42.5\n"), {
      readings: [{ sensor: "kitchen", ts: NOW, value: 42.5 }],
      dead: [],
    });
    deepStrictEqual(decode(p, "meter/kitchen", "n/a").dead, [
      { reason: "bad_value", detail: 'not a number: "n/a"' },
    ]);
  });

  it("senml: base name, time and value apply to later records; relative times; text values are dead letters", () => {
    const payload = JSON.stringify([
      { bn: "greenhouse-3/", bt: 1_700_000_000, n: "temp", u: "Cel", v: 21.5 },
      { n: "humidity", u: "%RH", v: 60, t: 10 },
      { n: "door", vs: "open" },
      { bn: "relative/", bt: 0, n: "x", v: 1, t: -5 },
    ]);
    deepStrictEqual(decode(plan({ format: "senml" }), "gh/3", payload), {
      readings: [
        { sensor: "greenhouse-3/temp", ts: NOW, value: 21.5 },
        { sensor: "greenhouse-3/humidity", ts: NOW + 10_000, value: 60 },
        { sensor: "relative/x", ts: NOW - 5_000, value: 1 },
      ],
      dead: [{ reason: "bad_value", detail: "greenhouse-3/door: not a numeric value" }],
    });
  });

  it("influx: one reading per numeric field, tags, nanosecond timestamps, escapes", () => {
    const payload = [
      'weather,site=roof,sensor\\ id=a\\,b temperature=21.5,humidity=60i,label="hi there",ok=true 1700000000000000000',
      "power watts=120.5",
      "# a comment",
      "broken",
    ].join("\n");
    deepStrictEqual(decode(plan({ format: "influx" }), "gw", payload), {
      readings: [
        {
          sensor: "weather/temperature",
          ts: NOW,
          value: 21.5,
          tags: { site: "roof", "sensor id": "a,b" },
        },
        {
          sensor: "weather/humidity",
          ts: NOW,
          value: 60,
          tags: { site: "roof", "sensor id": "a,b" },
        },
        { sensor: "power/watts", ts: NOW, value: 120.5 },
      ],
      dead: [{ reason: "bad_payload", detail: 'not line protocol: "broken"' }],
    });
  });

  it("influx: a message without a single line (empty, or comments only) is one dead letter", () => {
    for (const payload of ["", "\n  \n", "# only a comment"])
      deepStrictEqual(decode(plan({ format: "influx" }), "gw", payload), {
        readings: [],
        dead: [{ reason: "bad_payload", detail: "no line protocol in the message" }],
      });
  });

  it("reads times in ms, s and ISO 8601", () => {
    deepStrictEqual(
      [
        parseTime(1_700_000_000_000, "ms"),
        parseTime("1700000000", "s"),
        parseTime("2023-11-14T22:13:20Z", "iso8601"),
        parseTime(-1, "ms"),
        parseTime("x", "s"),
      ],
      [NOW, NOW, NOW, undefined, undefined],
    );
    deepStrictEqual(sensorFromTopic("{topic}", "a/b"), "a/b");
  });

  it("sensor ids from topic levels: the same as expanding the template level by level, for any topic", () => {
    // The definition, written plainly: split the topic, replace each placeholder.
    const expand = (template: string, topic: string, names: Record<string, string>) => {
      const levels = topic.split("/");
      let missing = false;
      const id = template.replace(/\{(\w+)\}/g, (_, what: string) => {
        if (what === "topic") return topic;
        if (names[what] !== undefined) return names[what];
        const level = levels[Number(what)];
        if (level === undefined || level === "") missing = true;
        return level ?? "";
      });
      return missing ? undefined : id;
    };
    const level = fc.constantFrom("", "a", "pump-1", "temp", "x y");
    const topic = fc.array(level, { minLength: 1, maxLength: 6 }).map((l) => l.join("/"));
    const part = fc.constantFrom(
      "{0}",
      "{1}",
      "{2}",
      "{5}",
      "{topic}",
      "{name}",
      "{x}",
      "/",
      "s-",
      "",
    );
    const template = fc.array(part, { minLength: 1, maxLength: 5 }).map((p) => p.join(""));
    const names = fc.constantFrom<Record<string, string>>({}, { name: "n1" });
    fc.assert(
      fc.property(template, topic, names, (t, top, n) => {
        deepStrictEqual(sensorFromTopic(t, top, n), expand(t, top, n));
      }),
      { seed: 20261121, numRuns: 2_000 },
    );
  });
});
