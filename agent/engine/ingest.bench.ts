/**
 * Ingest hot path, per message: decode a JSON payload and run it through a tumbling-window
 * rule, over 10,000 sensors. Baseline in the same run: a bare JSON.parse of the same
 * Buffers, the floor no decoder can beat.
 */
import { Bench } from "tinybench";
import { compileRule } from "../../rules/load.js";
import { decodeJsonReading } from "../ingest/decode.js";
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
  const bench = new Bench({ time: 2_000 });
  bench
    .add("baseline: JSON.parse(Buffer)", () => {
      for (const p of payloads) JSON.parse(p.toString("utf8"));
    })
    .add("decode", () => {
      for (const p of payloads) decodeJsonReading(topics[k++ % KEYS] as string, p, ts);
    })
    .add("decode + tumbling window (10k keys)", () => {
      for (const p of payloads) {
        const d = decodeJsonReading(topics[k++ % KEYS] as string, p, ts);
        if (d.ok) {
          d.reading.ts = ts++;
          engine.process(d.reading, d.reading.ts, out);
        }
      }
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
