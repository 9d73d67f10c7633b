/**
 * The durability promise, as a property: a crash cut at every position of a recorded
 * input — before a commit, or in the middle of releasing a commit's acknowledgements —
 * then recovery (checkpoint restored, reading log replayed) and the input resumed as MQTT
 * publishers resume it (every message not acknowledged sent again, in order, with DUP),
 * ends with exactly the results of the uninterrupted run: the same ids, revisions and
 * values, identical duplicates at most. The agent's own stages on real files; the edge
 * broker is left out (messages go in where it would hand them over), and time is virtual.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { MessageMeta } from "../agent/runtime/durable-input.js";
import { SqliteOutbox } from "../cloud-sync/sqlite-outbox.js";
import { VirtualClock } from "../lib/clock.js";
import { mulberry32 } from "../simulators/random.js";
import { recoveredStages } from "./helpers/stages.js";

const T0 = 1_700_000_000_000;
const RULES = `
rules:
  - name: per-second
    window: { type: tumbling, size: 1s }
    allowedLateness: 2s
    aggregates: [count, mean, min, max]
    idleTimeout: 4s
  - name: last-5
    window: { type: count, n: 5, every: 5 }
    aggregates: [count, sum]
    outputs: { localAlerts: false }
    detectors: [{ type: zscore, threshold: 2, minSamples: 4 }]
`;

type Event =
  | { kind: "message"; topic: string; payload: string; mid: number; qos: 0 | 1 }
  | { kind: "tick" };

/** A recorded input: three sensors, one of which falls silent (and goes idle), some readings late, ticks between. */
function recordedInput(seed: number, n: number, qos: 0 | 1): Event[] {
  const random = mulberry32(seed);
  const events: Event[] = [];
  const ts = { a: T0, b: T0, c: T0 };
  let mid = 0;
  for (let i = 0; i < n; i++) {
    if (i % 7 === 6) {
      events.push({ kind: "tick" });
      continue;
    }
    const sensors = (i < n / 2 ? ["a", "b", "c"] : ["a", "b"]) as (keyof typeof ts)[];
    const s = sensors[Math.floor(random() * sensors.length)] as keyof typeof ts;
    ts[s] += Math.floor(random() * 700);
    // Now and then a reading from the past: late within the lateness, or beyond it.
    const t = random() < 0.1 ? ts[s] - Math.floor(random() * 3_000) : ts[s];
    const value = Math.round(random() * 100) / 10 + (random() < 0.05 ? 50 : 0);
    mid = (mid % 65_535) + 1;
    events.push({
      kind: "message",
      topic: `sensors/dev/${s}`,
      payload: JSON.stringify({ ts: t, value }),
      mid,
      qos,
    });
  }
  return events;
}

/** One run of the agent's stages on `dir`: what it acknowledged, and a way to crash or finish. */
function start(dir: string, clock: VirtualClock) {
  const { stages, turn } = recoveredStages(
    dir,
    clock,
    "device: d\nrules: rules.yaml\nhttp: {enabled: false}\nstate: {checkpointInterval: 1s}\n",
  );
  return {
    stages,
    /** the end of a turn of the event loop: the log's commit; `releaseAtMost` acknowledgements count */
    endTurn(releaseAtMost = Number.POSITIVE_INFINITY) {
      gate.open = releaseAtMost;
      turn();
    },
    close() {
      stages.log?.close();
      stages.outbox.close();
      stages.store.close();
    },
  };
}

/** How many more acknowledgements may still reach their publishers (a crash in the middle of releasing them). */
const gate = { open: Number.POSITIVE_INFINITY };

interface Outcome {
  /** id/revision → the distinct payloads stored for it */
  results: Map<string, Set<string>>;
}

/**
 * Runs `events` (resuming after a crash at `cut` when given): the agent's routine is a
 * commit every 3 events, a checkpoint every 17, time 100 ms an event.
 */
function run(events: readonly Event[], cut?: { at: number; releaseAtMost: number }): Outcome {
  const dir = mkdtempSync(join(tmpdir(), "brook-durability-"));
  writeFileSync(join(dir, "rules.yaml"), RULES);
  const clock = new VirtualClock(T0 + 10_000);
  let agent = start(dir, clock);
  /** per message index: acknowledged to its publisher */
  const acked = new Set<number>();
  const feed = (i: number, dup: boolean) => {
    const e = events[i] as Event;
    clock.advance(100);
    if (e.kind === "tick") {
      agent.stages.input.tick(clock.now());
      return;
    }
    const meta: MessageMeta = { qos: e.qos, dup, client: "sensor", mid: e.mid };
    agent.stages.input.message(e.topic, Buffer.from(e.payload), meta, () => {
      if (gate.open <= 0) return; // the process died before this PUBACK left
      gate.open--;
      acked.add(i);
    });
  };
  const routine = (i: number) => {
    if (i % 3 === 2) agent.endTurn();
    if (i % 17 === 16) agent.stages.checkpointer.save(clock.now());
  };
  const end = cut?.at ?? events.length;
  for (let i = 0; i < end; i++) {
    feed(i, false);
    routine(i);
  }
  if (cut !== undefined) {
    // The crash: the last turn's commit runs with only some acknowledgements getting out,
    // or none runs; nothing else is written; every file is left as it is.
    if (cut.releaseAtMost >= 0) agent.endTurn(cut.releaseAtMost);
    gate.open = Number.POSITIVE_INFINITY;
    agent.close();
    clock.advance(1_000);
    agent = start(dir, clock);
    // Publishers send again what was not acknowledged, in order, marked DUP (QoS 1; a QoS 0
    // message is not sent again: it is lost).
    for (let i = 0; i < end; i++) {
      const e = events[i] as Event;
      if (e.kind === "message" && e.qos === 1 && !acked.has(i)) feed(i, true);
    }
    for (let i = end; i < events.length; i++) {
      feed(i, false);
      routine(i);
    }
  }
  // The end: everything committed, and every key flushed by going idle.
  agent.endTurn();
  clock.advance(60_000);
  agent.stages.input.tick(clock.now());
  agent.endTurn();
  ok(agent.stages.batcher.flush());
  agent.close();
  const outbox = new SqliteOutbox(join(dir, "data", "outbox.db"));
  const results = new Map<string, Set<string>>();
  for (const r of outbox.peek(1_000_000, new Set())) {
    const key = `${r.id}/${r.revision}`;
    const payloads = results.get(key) ?? new Set<string>();
    payloads.add(r.payload.toString());
    results.set(key, payloads);
  }
  outbox.close();
  return { results };
}

const sorted = (o: Outcome) =>
  [...o.results]
    .map(([k, v]) => [k, [...v].sort()] as const)
    .sort((a, b) => a[0].localeCompare(b[0]));

describe("durability: a crash at any position, then recovery, equals the uninterrupted run", () => {
  const events = recordedInput(20261206, 90, 1);
  const uninterrupted = run(events);

  it("the recorded input is a fair test: several windows, revisions, late readings and alerts", () => {
    const kinds = [...uninterrupted.results.values()].map(
      (p) => JSON.parse([...p][0] as string).kind,
    );
    const revisions = [...uninterrupted.results.keys()].filter((k) => !k.endsWith("/0"));
    ok(kinds.filter((k) => k === "agg").length > 30, "windows");
    ok(kinds.includes("late") && kinds.includes("alert"), "late readings and alerts");
    ok(revisions.length > 0, "revisions");
  });

  it("QoS 1: cut before each commit, and in the middle of each commit's acknowledgements", () => {
    for (let at = 1; at <= events.length; at++)
      for (const releaseAtMost of [-1, 0, 1]) {
        const crashed = run(events, { at, releaseAtMost });
        deepStrictEqual(sorted(crashed), sorted(uninterrupted), `crash at ${at}, ${releaseAtMost}`);
      }
  });

  it("QoS 0: a window a crash may have cut short is marked partial, never an undercount marked complete", () => {
    const qos0 = recordedInput(20261206, 60, 0);
    const whole = run(qos0);
    for (let at = 5; at <= qos0.length; at += 5) {
      const crashed = run(qos0, { at, releaseAtMost: -1 });
      // Every window of the crashed run is one of the whole run's, or marked partial. (A
      // detector that missed a reading may judge later readings otherwise: alerts can differ.)
      for (const [key, payloads] of crashed.results) {
        for (const payload of payloads) {
          const r = JSON.parse(payload);
          // Count windows after a lost reading hold the last n readings received: they are
          // other windows (other ids), not undercounts; time windows are checked here.
          if (r.kind !== "agg" || r.rule !== "per-second" || whole.results.get(key)?.has(payload))
            continue;
          ok(
            r.partial === true,
            `crash at ${at}: ${key} ${payload} is neither the whole run's nor partial`,
          );
        }
      }
    }
  });
});
