/**
 * A reading's path through the agent, top to bottom: a message taken in (durable-input.ts:
 * logged first) → intake (decode, dead letters) → engine (windows, detectors) → route →
 * the outbox's batcher and/or a local publish. Also the engine's processing-time tick,
 * its checkpointed state and a rules swap, which all produce results that take the same
 * way out. Time comes in with each message and tick, so a replay comes out the same.
 */
import type { CompiledRule, CompiledSource, OutputPlan } from "../compile/plan.js";
import { Engine, type EngineSnapshot } from "../engine/engine.js";
import type { EngineOutput, KeyRecord, Reading } from "../engine/types.js";
import type { Batcher } from "./batcher.js";
import type { Intake } from "./intake.js";
import type { LocalOutputs } from "./local-out.js";
import type { RateLimitedLog } from "./log.js";
import type { AgentCounters } from "./metrics.js";
import { DEFAULT_OUTPUTS, route } from "./route.js";

export interface PipelineOptions {
  device: string;
  maxStateBytes: number;
  maxFutureMs: number;
  rules: readonly CompiledRule[];
  intake: Intake;
  batcher: Batcher;
  local: LocalOutputs;
  counters: AgentCounters;
  /** readings stamped too far in the future (dead letters the engine finds) */
  futureReadings: RateLimitedLog;
  /** sees each reading the engine took and each result (the live view) */
  observer?: PipelineObserver;
}

export interface PipelineObserver {
  /** `key`: the engine's record of its key, where the observer may keep its own data for it */
  reading(reading: Reading, key: KeyRecord | undefined): void;
  output(out: EngineOutput): void;
}

export class Pipeline {
  engine: Engine;
  /** each rule's outputs; a swap keeps the removed rules' until their last results are routed */
  private plans = new Map<string, OutputPlan>();
  private readonly outputs: EngineOutput[] = [];
  /** when the message being processed arrived (performance.now()): alerts are timed from it */
  private arrivedAt: number | undefined;
  /** the processing time of the message being processed, and the time event times are judged against */
  private now = 0;
  private eventNow = 0;
  /** whether it came by a way that can lose messages (MQTT QoS 0) */
  private lossy = false;
  /** each reading of a message: to the engine (bound once, not a closure per message) */
  private readonly toEngine = (reading: Reading, source: string): void => {
    // A reading stamped too far in the future is a dead letter, not a reading.
    if (this.engine.process(reading, this.now, this.outputs, source, this.lossy, this.eventNow)) {
      this.options.counters.readings++;
      this.options.observer?.reading(reading, this.engine.lastKey);
    }
  };

  constructor(private readonly options: PipelineOptions) {
    this.engine = this.newEngine(options.rules);
    this.setPlans(options.rules);
  }

  /**
   * A message taken in at processing time `at` (ms since the epoch), with `eventAt` the time
   * event times are judged against then (its arrival time if it carries none; see
   * lib/clock.ts eventNow). `live`: it arrived just now (an alert it opens is timed from
   * now), rather than being replayed from the log. `lossy`: it came by a way that can lose
   * messages (MQTT QoS 0).
   */
  process(
    topic: string,
    payload: Buffer,
    at: number,
    eventAt: number,
    live: boolean,
    lossy: boolean,
  ): void {
    this.now = at;
    this.eventNow = eventAt;
    this.lossy = lossy;
    this.arrivedAt = live ? performance.now() : undefined;
    try {
      this.options.intake.decode(topic, payload, eventAt, this.toEngine);
      if (this.outputs.length > 0) this.route();
    } finally {
      // A message whose processing failed half-way (a bug) leaves its results to be routed
      // with the next one's.
      this.arrivedAt = undefined;
    }
  }

  /** Processing time moved on to `now`: idle keys are flushed, silences noticed. */
  tick(now: number): void {
    this.engine.tick(now, this.outputs);
    if (this.outputs.length > 0) this.route();
  }

  /** The topic filters the edge broker must deliver. */
  filters(): string[] {
    return this.options.intake.filters();
  }

  snapshot(): EngineSnapshot {
    return this.engine.snapshot();
  }

  /** Whether each reading of a message carries its own event time (Intake.carriesTime). */
  carriesTime(topic: string, payload: Buffer, eventAt: number): boolean {
    return this.options.intake.carriesTime(topic, payload, eventAt);
  }

  /** Lossy readings may have been lost, stamped up to `until`: see Engine.markLossyWindowsPartial. */
  markLossyWindowsPartial(until: number, everyKey = false): void {
    this.engine.markLossyWindowsPartial(until, everyKey);
  }

  /** Resumes a checkpoint's windows; those of rules changed or removed since go where those rules sent them. */
  restore(snapshot: EngineSnapshot): void {
    this.engine.restore(snapshot, this.outputs);
    this.setPlans(snapshot.rules.map((r) => r.rule));
    this.route();
    this.setPlans(this.engine.rules());
    this.options.batcher.flush();
  }

  /**
   * New rules, between two readings: a rule of the same name and definition keeps its
   * state; the open windows of a removed or changed rule are emitted as partial results,
   * where the old rule sent them.
   */
  swap(rules: readonly CompiledRule[], sources: readonly CompiledSource[]): void {
    const next = this.newEngine(rules);
    next.restore(this.engine.snapshot(), this.outputs);
    this.engine = next;
    this.options.intake.setSources(sources);
    this.route();
    this.setPlans(rules);
    this.options.batcher.flush();
  }

  private newEngine(rules: readonly CompiledRule[]): Engine {
    const { device, maxStateBytes, maxFutureMs } = this.options;
    return new Engine({ device, rules, maxStateBytes, maxFutureMs });
  }

  /** Rules saved by an older version carry no outputs: theirs are the default. */
  private setPlans(rules: readonly CompiledRule[]): void {
    this.plans = new Map(rules.map((r) => [r.name, r.outputs ?? DEFAULT_OUTPUTS]));
  }

  private route(): void {
    const { device, counters, batcher, local, futureReadings, observer } = this.options;
    for (const out of this.outputs) {
      observer?.output(out);
      if (out.kind === "dead") {
        counters.deadLetters.future++;
        futureReadings.event(
          { reason: out.reason, reading: out.reading, now: out.now },
          "dead letter: reading stamped too far in the future",
        );
        continue;
      }
      if (out.kind === "agg") {
        counters.windowsClosed++;
        if (out.partial) counters.partialWindows++;
      }
      const routed = route(out, this.plans.get(out.rule) ?? DEFAULT_OUTPUTS, device);
      if (routed.local !== undefined) {
        // An alert's opening is timed from its reading's arrival (routing runs in the same turn).
        const opened = out.kind === "alert" && out.revision === 0;
        local.publish(
          routed.local.topic,
          routed.local.payload,
          opened ? this.arrivedAt : undefined,
        );
      }
      if (routed.record !== undefined) batcher.add(routed.record);
    }
    this.outputs.length = 0;
  }
}
