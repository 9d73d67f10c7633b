/**
 * The engine: routes each reading to the rules whose sensor glob matches it and keeps
 * every rule's per-key window state under one memory budget. Pure: readings and the
 * processing time come in as arguments, results go out through `out` (CONVENTIONS.md 1).
 *
 * Memory: every key's state is accounted in bytes, deterministically (typed-array sizes
 * plus a fixed overhead per key), never by asking the GC. Over `maxStateBytes`, the least
 * recently active keys are evicted: their open windows are emitted marked partial first,
 * so nothing is lost. A key silent for its rule's idle timeout (processing time) is
 * flushed the same way, but complete: its watermark is taken to have passed everything.
 */
import type { CompiledRule } from "../compile/plan.js";
import { CountWindows } from "./count-window.js";
import { type DetectingState, DetectingWindows } from "./detectors/index.js";
import { type Entry, type KeyEntries, Keys, RuleRuntime } from "./keys.js";
import { Emitter, type KeyState, type WindowOperator } from "./operator.js";
import { SessionWindows } from "./session-window.js";
import { TimeWindows } from "./time-windows.js";
import type { EngineOutput, Reading, ScoreSink } from "./types.js";

export const DEFAULT_MAX_STATE_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_FUTURE_MS = 5 * 60_000;
/** Accounted per key beside its window state: the map entry, the LRU links, the key string. */
const ENTRY_OVERHEAD = 160;

export interface EngineOptions {
  device: string;
  rules: readonly CompiledRule[];
  maxStateBytes?: number;
  /** a reading stamped further than this ahead of processing time is a dead letter */
  maxFutureMs?: number;
  /** receives every detector's score for every reading (benchmarks, NAB runs) */
  onScore?: ScoreSink;
}

export interface EngineCounters {
  /** readings accepted (not dead letters) */
  readings: number;
  late: number;
  /** dead letters: stamped too far in the future */
  future: number;
  /** keys evicted over the memory budget (their open windows emitted as partial) */
  evictedKeys: number;
  /** keys flushed after their idle timeout */
  idleKeys: number;
  alerts: number;
}

export function operatorFor(
  device: string,
  rule: CompiledRule,
  onScore?: ScoreSink,
): WindowOperator<KeyState> {
  const emit = new Emitter(device, rule, onScore);
  const window = windowOperator(rule, emit);
  // Snapshots written before detectors existed carry rules without the field.
  if (rule.detectors === undefined || rule.detectors.length === 0) return window;
  return new DetectingWindows(rule.detectors, window, emit) as unknown as WindowOperator<KeyState>;
}

function windowOperator(rule: CompiledRule, emit: Emitter): WindowOperator<KeyState> {
  const w = rule.window;
  if (w.type === "count") return new CountWindows(w, emit) as unknown as WindowOperator<KeyState>;
  if (w.type === "session")
    return new SessionWindows(
      w,
      rule.allowedLatenessMs,
      emit,
    ) as unknown as WindowOperator<KeyState>;
  return new TimeWindows(w, rule.allowedLatenessMs, emit) as unknown as WindowOperator<KeyState>;
}

export interface EngineSnapshot {
  /** 2: before keys carried their latest event time and taint */
  version: 2 | 3;
  rules: {
    rule: CompiledRule;
    keys: [
      key: string,
      lastActive: number,
      state: unknown,
      maxTs?: number,
      taintedUntil?: number,
      lossy?: boolean,
    ][];
  }[];
  /** see Engine.markLossyWindowsPartial */
  lossyUntil?: number;
}

export class Engine {
  readonly counters: EngineCounters = {
    readings: 0,
    late: 0,
    future: 0,
    evictedKeys: 0,
    idleKeys: 0,
    alerts: 0,
  };
  private readonly runtimes: RuleRuntime[];
  private readonly keys: Keys;
  /**
   * The record of the key of the reading processed last, if a rule took it: where the
   * engine's user may keep its own data for the key (KeyRecord.attached).
   */
  lastKey: KeyEntries | undefined;
  private readonly maxStateBytes: number;
  private readonly maxFutureMs: number;
  private bytes = 0;
  private readonly device: string;
  /** see markLossyWindowsPartial */
  private lossyUntil = Number.NEGATIVE_INFINITY;

  constructor(options: EngineOptions) {
    this.device = options.device;
    this.runtimes = options.rules.map(
      (rule, i) => new RuleRuntime(rule, operatorFor(options.device, rule, options.onScore), i),
    );
    this.keys = new Keys(this.runtimes.length);
    this.maxStateBytes = options.maxStateBytes ?? DEFAULT_MAX_STATE_BYTES;
    this.maxFutureMs = options.maxFutureMs ?? DEFAULT_MAX_FUTURE_MS;
  }

  /** Accounted bytes of all keyed state. */
  stateBytes(): number {
    return this.bytes;
  }

  keyCount(): number {
    let n = 0;
    for (const rt of this.runtimes) n += rt.size;
    return n;
  }

  ruleNames(): string[] {
    return this.runtimes.map((rt) => rt.rule.name);
  }

  rules(): CompiledRule[] {
    return this.runtimes.map((rt) => rt.rule);
  }

  /**
   * `source`: the name of the rules-file source the reading came from, if any. `lossy`: it
   * came by a way that can lose readings (MQTT QoS 0): see markLossyWindowsPartial.
   * `now` is processing time (idle timeouts run on it); `eventNow`, the time event times are
   * judged against (maxFuture), if it differs (lib/clock.ts eventNow). Returns false for a
   * dead letter (stamped too far in the future).
   */
  process(
    reading: Reading,
    now: number,
    out: EngineOutput[],
    source?: string,
    lossy = false,
    eventNow = now,
  ): boolean {
    if (reading.ts > eventNow + this.maxFutureMs) {
      this.counters.future++;
      out.push({ kind: "dead", reason: "future", reading, now: eventNow });
      return false;
    }
    this.counters.readings++;
    const before = out.length;
    // Looked up once, at the first rule that takes the reading.
    let k: KeyEntries | undefined;
    for (const rt of this.runtimes) {
      if (!rt.accepts(reading, source)) continue;
      k ??= this.keys.record(reading.sensor);
      let e = k.entries[rt.index];
      if (e === undefined) {
        const state = rt.op.create();
        e = {
          key: reading.sensor,
          state,
          bytes: 0,
          lastActive: now,
          maxTs: reading.ts,
          taintedUntil: lossy ? this.lossyUntil : Number.NEGATIVE_INFINITY,
          lossy,
          record: k,
          prev: undefined,
          next: undefined,
        };
        this.keys.add(rt, e);
        this.account(e, ENTRY_OVERHEAD + 2 * reading.sensor.length + state.bytes);
      } else if (e !== rt.tail) {
        rt.unlink(e);
        rt.append(e);
      }
      e.lastActive = now;
      if (reading.ts > e.maxTs) e.maxTs = reading.ts;
      if (lossy && !e.lossy) {
        e.lossy = true;
        if (this.lossyUntil > e.taintedUntil) e.taintedUntil = this.lossyUntil;
      }
      const stateBefore = e.state.bytes;
      const emitted = out.length;
      rt.op.add(e.state, e.key, reading, out);
      if (e.taintedUntil !== Number.NEGATIVE_INFINITY) taint(out, emitted, e.taintedUntil);
      if (e.state.bytes !== stateBefore) this.account(e, e.bytes + e.state.bytes - stateBefore);
    }
    this.lastKey = k;
    if (out.length > before) this.count(out, before);
    if (this.bytes > this.maxStateBytes) this.evict(out);
    return true;
  }

  /** Flushes keys idle for their rule's idle timeout (processing time). Call periodically. */
  tick(now: number, out: EngineOutput[]): void {
    const before = out.length;
    for (const rt of this.runtimes) {
      const gap = rt.silenceGapMs;
      // Keys in least-recently-active order: those silent for the smallest gap come first.
      if (gap !== undefined)
        for (let e = rt.head; e !== undefined && e.lastActive + gap <= now; e = e.next)
          (rt.op as DetectingWindows).idle(
            e.state as DetectingState,
            e.key,
            e.lastActive,
            now,
            out,
          );
      const timeout = rt.rule.idleTimeoutMs;
      while (rt.head !== undefined && rt.head.lastActive + timeout <= now) {
        this.remove(rt, rt.head, out, false);
        this.counters.idleKeys++;
      }
    }
    if (out.length > before) this.count(out, before);
  }

  private evict(out: EngineOutput[]): void {
    const before = out.length;
    while (this.bytes > this.maxStateBytes) {
      let oldest: RuleRuntime | undefined;
      for (const rt of this.runtimes) {
        if (
          rt.head !== undefined &&
          (oldest === undefined || rt.head.lastActive < (oldest.head as Entry).lastActive)
        )
          oldest = rt;
      }
      if (oldest === undefined) break;
      this.remove(oldest, oldest.head as Entry, out, true);
      this.counters.evictedKeys++;
    }
    if (out.length > before) this.count(out, before);
  }

  private remove(rt: RuleRuntime, e: Entry, out: EngineOutput[], partial: boolean): void {
    const emitted = out.length;
    rt.op.flush(e.state, e.key, out, partial);
    if (e.taintedUntil !== Number.NEGATIVE_INFINITY) taint(out, emitted, e.taintedUntil);
    rt.op.release(e.state);
    this.keys.remove(rt, e);
    this.bytes -= e.bytes;
  }

  private account(e: Entry, bytes: number): void {
    this.bytes += bytes - e.bytes;
    e.bytes = bytes;
  }

  private count(out: EngineOutput[], from: number): void {
    for (let i = from; i < out.length; i++) {
      const kind = (out[i] as EngineOutput).kind;
      if (kind === "late") this.counters.late++;
      // An alert's later revisions (its resolution) are not new alerts.
      else if (kind === "alert" && (out[i] as { revision: number }).revision === 0)
        this.counters.alerts++;
    }
  }

  /**
   * Readings that came by a lossy way may have been lost up to event time `until` (after a
   * crash: no reading the agent took could be stamped later than the crash plus maxFuture):
   * every window of a key that takes such readings, and starts at or before `until` (or its
   * latest reading), is emitted partial when it closes, as is any later revision of it;
   * keys that first appear by a lossy way until then too. `everyKey`: every key's windows
   * open now (their state was lost, not only lossy readings).
   */
  markLossyWindowsPartial(until: number, everyKey = false): void {
    if (until > this.lossyUntil) this.lossyUntil = until;
    for (const rt of this.runtimes)
      for (let e = rt.head; e !== undefined; e = e.next)
        if (e.lossy || everyKey) e.taintedUntil = Math.max(e.taintedUntil, e.maxTs, until);
  }

  /** Emits every open window as partial and forgets all state (rules removed, tests). */
  flushAll(out: EngineOutput[]): void {
    for (const rt of this.runtimes)
      while (rt.head !== undefined) this.remove(rt, rt.head, out, true);
  }

  openWindows(): number {
    let n = 0;
    for (const rt of this.runtimes)
      for (let e = rt.head; e !== undefined; e = e.next) n += rt.op.openWindows(e.state);
    return n;
  }

  /**
   * Engine state for a checkpoint: plain objects and typed arrays (structured-cloneable,
   * stored with v8.serialize). Each rule's state is saved with the rule it belongs to.
   */
  snapshot(): EngineSnapshot {
    return {
      version: 3,
      rules: this.runtimes.map((rt) => {
        const keys: EngineSnapshot["rules"][number]["keys"] = [];
        for (let e = rt.head; e !== undefined; e = e.next)
          keys.push([
            e.key,
            e.lastActive,
            rt.op.snapshot(e.state),
            e.maxTs,
            e.taintedUntil,
            e.lossy,
          ]);
        return { rule: rt.rule, keys };
      }),
      lossyUntil: this.lossyUntil,
    };
  }

  /**
   * Resumes from a snapshot, on an engine with no state yet. A rule's state resumes if a
   * rule of the same name and the same definition runs now; otherwise its open windows are
   * emitted as partial results into `out` rather than lost.
   */
  restore(snapshot: EngineSnapshot, out: EngineOutput[]): void {
    if (snapshot.lossyUntil !== undefined && snapshot.lossyUntil > this.lossyUntil)
      this.lossyUntil = snapshot.lossyUntil;
    for (const saved of snapshot.rules) {
      const rt = this.runtimes.find(
        (r) => r.rule.name === saved.rule.name && sameDefinition(r.rule, saved.rule),
      );
      if (rt === undefined) {
        // Its windows go out as partial and its open alerts resolve as forgotten. Detector
        // state of an older layout cannot be read: then only its windows come back.
        const orphan = operatorFor(this.device, saved.rule);
        const bare = operatorFor(this.device, { ...saved.rule, detectors: [] });
        for (const [key, , data] of saved.keys) {
          let state: KeyState;
          try {
            state = orphan.restore(data);
          } catch {
            const d = data as { slots?: unknown; window?: unknown };
            bare.flush(bare.restore(d.slots === undefined ? data : d.window), key, out, true);
            continue;
          }
          orphan.flush(state, key, out, true);
        }
        continue;
      }
      for (const [key, lastActive, data, maxTs, taintedUntil, lossy] of saved.keys) {
        const state = rt.op.restore(data);
        const e: Entry = {
          key,
          state,
          bytes: 0,
          lastActive,
          maxTs: maxTs ?? Number.NEGATIVE_INFINITY,
          taintedUntil: taintedUntil ?? Number.NEGATIVE_INFINITY,
          lossy: lossy ?? false,
          record: this.keys.record(key),
          prev: undefined,
          next: undefined,
        };
        this.keys.add(rt, e);
        this.account(e, ENTRY_OVERHEAD + 2 * key.length + state.bytes);
      }
    }
    if (this.bytes > this.maxStateBytes) this.evict(out);
  }
}

/** Marks the window results emitted from `from` on that start at or before `until` partial. */
function taint(out: EngineOutput[], from: number, until: number): void {
  for (let i = from; i < out.length; i++) {
    const o = out[i] as EngineOutput;
    if (o.kind === "agg" && o.start <= until) o.partial = true;
  }
}

/** Same window, lateness, aggregates and detectors: state saved under one can resume under the other. */
export function sameDefinition(a: CompiledRule, b: CompiledRule): boolean {
  return definition(a) === definition(b);
}

function definition(r: CompiledRule): string {
  return JSON.stringify([r.window, r.allowedLatenessMs, r.aggregates, r.detectors ?? []]);
}
