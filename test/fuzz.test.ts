/**
 * Fuzzing with fast-check, fixed seeds: the payload decoders, the rules loader, the config
 * loader and the broker's packet-size guard take hostile input — random bytes, invalid
 * UTF-8, huge and tiny numbers, "NaN" and "Infinity", deep nesting, long strings,
 * `__proto__` and `constructor` keys, oversized payloads — and nothing throws past its
 * boundary: a decoder returns readings and dead letters, a loader returns problems (the
 * config loader throws only its coded BrookError), and every reading that comes out is one
 * the engine can aggregate. About 107,000 cases a run; `BROOK_FUZZ_RUNS=10` runs ten times as many.
 */
import { ok } from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseRules } from "../agent/compile/load.js";
import { parseConfig } from "../agent/config/load.js";
import { brookCode } from "../agent/errors.js";
import type { SourcePlan } from "../agent/ingest/common.js";
import { MAX_VALUE } from "../agent/ingest/common.js";
import { DEFAULT_SOURCE, decodePayload } from "../agent/ingest/decode.js";
import { PacketSizeGuard } from "../agent/runtime/edge-limits.js";

const SCALE = Number(process.env.BROOK_FUZZ_RUNS ?? 1);
const runs = (n: number, seed: number) => ({ numRuns: n * SCALE, seed });

/** Numbers and number-like text that break naive code. */
const nasty = fc.oneof(
  fc.double(),
  fc.constantFrom(1e308, -1e308, 1e-320, 5e-324, 2 ** 53 + 1, -0, 1e100, 1.0000001e100),
  fc.constantFrom("NaN", "Infinity", "-Infinity", "1e999999", "0x10", "1e3", " ", "", "−1"),
);

/** JSON values as hostile senders write them: deep, long, with prototype keys. */
const hostileJson = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    nasty,
    fc.string({ maxLength: 200 }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(
      fc.oneof(
        fc.constantFrom(
          "__proto__",
          "constructor",
          "prototype",
          "value",
          "ts",
          "v",
          "bn",
          "n",
          "t",
        ),
        fc.string({ maxLength: 8 }),
      ),
      tie("value"),
      { maxKeys: 5 },
    ),
  ),
})).value;

/**
 * A payload: JSON text (some very deep), line protocol-like, raw bytes, invalid UTF-8, or
 * as large as the broker lets through (64 KiB); weighted towards the small and varied.
 */
const payload = fc.oneof(
  { arbitrary: hostileJson.map((v) => Buffer.from(JSON.stringify(v) ?? "")), weight: 10 },
  {
    arbitrary: fc
      .integer({ min: 1, max: 10_000 })
      .map((d) => Buffer.from(`{"value": ${"[".repeat(d)}${"]".repeat(d)}}`)),
    weight: 1,
  },
  { arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), weight: 5 },
  {
    arbitrary: fc
      .tuple(fc.string({ maxLength: 20 }), nasty, fc.string({ maxLength: 12 }))
      .map(([m, v, t]) => Buffer.from(`${m},tag=x field=${String(v)} ${t}`)),
    weight: 3,
  },
  { arbitrary: fc.constant(Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1])), weight: 1 },
  {
    arbitrary: fc
      .integer({ min: 1_000, max: 65_000 })
      .map((n) => Buffer.from(`{"value":1,"pad":"${"x".repeat(n)}"}`)),
    weight: 1,
  },
);

const plans: SourcePlan[] = [
  DEFAULT_SOURCE,
  { ...DEFAULT_SOURCE, format: "senml", sensor: "{name}" },
  { ...DEFAULT_SOURCE, format: "number" },
  { ...DEFAULT_SOURCE, format: "influx", sensor: "{measurement}/{field}" },
  { ...DEFAULT_SOURCE, valuePath: "a.b", timePath: "t", timeFormat: "s", factor: 1e200 },
  { ...DEFAULT_SOURCE, timeFormat: "iso8601", sensorPath: "id", tagPaths: { x: "__proto__" } },
];

describe("fuzzing", () => {
  it("payload decoders: readings the engine can aggregate, or dead letters; never a throw", () => {
    for (const [i, plan] of plans.entries())
      fc.assert(
        fc.property(payload, fc.string({ maxLength: 40 }), (bytes, topicTail) => {
          const decoded = decodePayload(plan, `sensors/d/${topicTail}`, bytes, 1_700_000_000_000);
          for (const r of decoded.readings) {
            ok(Number.isFinite(r.value) && Math.abs(r.value) <= MAX_VALUE, `value ${r.value}`);
            ok(Number.isFinite(r.ts) && r.ts >= 0, `ts ${r.ts}`);
            ok(typeof r.sensor === "string" && r.sensor !== "", `sensor ${r.sensor}`);
          }
          for (const d of decoded.dead)
            ok(d.detail.length < 500, "a dead letter's detail stays short");
        }),
        runs(12_000, 20261206 + i),
      );
  });

  it("rules loader: a result with problems, never a throw", () => {
    const yamlish = fc.oneof(
      hostileJson.map((v) => JSON.stringify({ rules: [v] })),
      hostileJson.map((v) => JSON.stringify(v) ?? ""),
      fc.string({ maxLength: 300 }),
      fc
        .array(
          fc.constantFrom(
            "rules:",
            "  - name: x",
            "    window: {type: tumbling, size: 1m}",
            "    detectors: [{type: zscore}]",
            "sources:",
            "  - {name: s, topic: a/#}",
            "&a [*a]",
            "!!binary x",
            "? [",
            "'",
            "\t",
          ),
          { maxLength: 12 },
        )
        .map((lines) => lines.join("\n")),
    );
    fc.assert(
      fc.property(yamlish, (text) => {
        const result = parseRules("fuzz.yaml", text);
        ok(result.ok || result.problems.length > 0);
      }),
      runs(10_000, 20261207),
    );
  });

  it("config loader: a coded BrookError for what it refuses, never anything else", () => {
    const text = fc.oneof(
      hostileJson.map((v) =>
        JSON.stringify({ device: "d", ...(typeof v === "object" && v !== null ? v : { x: v }) }),
      ),
      fc.string({ maxLength: 200 }),
      fc
        .record({
          device: fc.oneof(fc.constant("d"), fc.string({ maxLength: 5 })),
          edge: fc.oneof(fc.constant({ embedded: { host: "0.0.0.0" } }), hostileJson),
          state: hostileJson,
          readingLog: hostileJson,
        })
        .map((o) => JSON.stringify(o)),
    );
    fc.assert(
      fc.property(
        text,
        fc.dictionary(
          fc.constantFrom("BROOK_HTTP_PORT", "BROOK_STATE_MAX_BYTES", "BROOK_EDGE_EMBEDDED_PORT"),
          fc.string({ maxLength: 10 }),
        ),
        (yaml, env) => {
          try {
            parseConfig("/fuzz/config.yaml", yaml, env);
          } catch (err) {
            ok(brookCode(err) !== undefined, `not a coded error: ${(err as Error).stack}`);
          }
        },
      ),
      runs(10_000, 20261208),
    );
  });

  it("packet-size guard: any bytes, in any chunks, never throws and never lets a large packet through", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), (chunks) => {
        const guard = new PacketSizeGuard(1024);
        for (const c of chunks) if (!guard.feed(Buffer.from(c))) break;
      }),
      runs(10_000, 20261209),
    );
  });

  it("memory stays bounded across the decoders' hostile payloads", () => {
    globalThis.gc?.();
    const before = process.memoryUsage().heapUsed;
    fc.assert(
      fc.property(payload, (bytes) => {
        decodePayload(DEFAULT_SOURCE, "sensors/d/s", bytes, 0);
      }),
      runs(5_000, 20261210),
    );
    globalThis.gc?.();
    const grown = process.memoryUsage().heapUsed - before;
    ok(grown < 64 * 1024 * 1024, `the heap grew ${grown} bytes`);
  });
});
