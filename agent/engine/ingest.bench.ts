/**
 * Ingest hot path, per message: decode a JSON payload and run it through a tumbling-window
 * rule, over 10,000 sensors. Baseline in the same run: a bare JSON.parse of the same
 * Buffers, the floor no decoder can beat.
 */
import { Bench } from "tinybench";
import { topicMatcher } from "../../rules/topic.js";
import { compileRule } from "../compile/compile.js";
import type { DecodeSink } from "../ingest/common.js";
import { DEFAULT_SOURCE, decoderFor } from "../ingest/decode.js";
import { Engine } from "./engine.js";
import type { EngineOutput } from "./types.js";

const KEYS = 10_000;
const BATCH = 10_000;

export async function run(): Promise<Record<string, number>> {
  const topics = Array.from({ length: KEYS }, (_, i) => `sensors/dev-${i % 100}/s-${i}`);
  const t0 = 1_700_000_000_000;
  let ts = t0;
  const payloads = Array.from({ length: BATCH }, (_, i) =>
    Buffer.from(JSON.stringify({ ts: t0 + i * 10, value: 20 + (i % 17) })),
  );
  const engine = new Engine({
    device: "bench",
    rules: [compileRule({ name: "m", window: { type: "tumbling", size: "1m" } })],
  });
  const out: EngineOutput[] = [];
  let k = 0;
  // The agent's intake: the default source's decoder, behind its topic filter, into a sink.
  const decoder = decoderFor(DEFAULT_SOURCE);
  const matches = topicMatcher(DEFAULT_SOURCE.topic);
  const decode = (topic: string, payload: Buffer, sink: DecodeSink) => {
    if (matches(topic)) decoder(topic, payload, ts, sink);
  };
  // One sink, as the agent has one intake (two would make the decoder's call to it polymorphic).
  let toEngine = false;
  const sink: DecodeSink = {
    reading: (reading) => {
      if (!toEngine) return;
      reading.ts = ts++;
      engine.process(reading, reading.ts, out, DEFAULT_SOURCE.name);
    },
    dead: () => undefined,
  };
  const bench = new Bench({ time: 2_000 });
  bench
    .add("baseline: JSON.parse(Buffer)", () => {
      for (const p of payloads) JSON.parse(p.toString("utf8"));
    })
    .add("decode", () => {
      toEngine = false;
      for (const p of payloads) decode(topics[k++ % KEYS] as string, p, sink);
    })
    .add("decode + tumbling window (10k keys)", () => {
      toEngine = true;
      for (const p of payloads) decode(topics[k++ % KEYS] as string, p, sink);
      out.length = 0;
    });
  await bench.run();
  const perSecond: Record<string, number> = {};
  for (const task of bench.tasks) {
    const r = task.result as { throughput?: { p50: number } };
    perSecond[task.name] = Math.round((r.throughput?.p50 ?? 0) * BATCH);
  }
  return perSecond;
}
