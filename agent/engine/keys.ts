/**
 * The engine's keys: one record per key (sensor) holding that key's entry for each rule, so
 * a reading costs one map lookup whatever the number of rules (a reading's sensor id is a
 * new string each time, and a lookup hashes it), and each rule's entries in a list, least
 * recently active first (idle timeouts, eviction).
 */
import type { CompiledRule } from "../compile/plan.js";
import { DetectingWindows } from "./detectors/index.js";
import type { KeyState, WindowOperator } from "./operator.js";
import { readingFilter } from "./reading-filter.js";
import type { KeyRecord, Reading } from "./types.js";

export interface Entry {
  key: string;
  state: KeyState;
  bytes: number;
  lastActive: number;
  /** the latest event time of the key's readings */
  maxTs: number;
  /** windows starting at or before this event time are emitted partial (see markLossyWindowsPartial) */
  taintedUntil: number;
  /** some of its readings came by a way that can lose them (MQTT QoS 0) */
  lossy: boolean;
  /** the key's record, which holds it */
  record: KeyEntries;
  prev: Entry | undefined;
  next: Entry | undefined;
}

/** A key's entries, by rule (its index among the engine's rules). */
export interface KeyEntries extends KeyRecord {
  readonly entries: (Entry | undefined)[];
  /** entries held */
  held: number;
}

export class RuleRuntime {
  /** keys with an entry for this rule */
  size = 0;
  /** least recently active first */
  head: Entry | undefined;
  tail: Entry | undefined;
  /** Whether a reading (from a source) is this rule's: built once from the rule (CONVENTIONS.md 10). */
  readonly accepts: (reading: Reading, source: string | undefined) => boolean;
  /** the rule's smallest silence gap, if it has a silence detector */
  readonly silenceGapMs: number | undefined;

  constructor(
    readonly rule: CompiledRule,
    readonly op: WindowOperator<KeyState>,
    /** its index among the engine's rules: its entry's place in a KeyRecord */
    readonly index: number,
  ) {
    this.accepts = readingFilter(rule);
    this.silenceGapMs = op instanceof DetectingWindows ? op.silenceGapMs() : undefined;
  }

  unlink(e: Entry): void {
    if (e.prev === undefined) this.head = e.next;
    else e.prev.next = e.next;
    if (e.next === undefined) this.tail = e.prev;
    else e.next.prev = e.prev;
    e.prev = undefined;
    e.next = undefined;
  }

  append(e: Entry): void {
    e.prev = this.tail;
    e.next = undefined;
    if (this.tail === undefined) this.head = e;
    else this.tail.next = e;
    this.tail = e;
  }
}

/** Every key's record, and each rule's entries. */
export class Keys {
  private readonly records = new Map<string, KeyEntries>();

  constructor(private readonly rules: number) {}

  /** The key's record; a new one (kept once an entry is added to it) if it has none. */
  record(key: string): KeyEntries {
    return (
      this.records.get(key) ?? {
        entries: new Array(this.rules).fill(undefined),
        held: 0,
        attached: undefined,
      }
    );
  }

  /** Puts a new entry for rule `rt` in its record, last in the rule's list. */
  add(rt: RuleRuntime, e: Entry): void {
    e.record.entries[rt.index] = e;
    if (e.record.held++ === 0) this.records.set(e.key, e.record);
    rt.size++;
    rt.append(e);
  }

  /** Takes an entry out of its record and its rule's list; a record with no entry left goes. */
  remove(rt: RuleRuntime, e: Entry): void {
    rt.unlink(e);
    rt.size--;
    e.record.entries[rt.index] = undefined;
    if (--e.record.held === 0) this.records.delete(e.key);
  }
}
