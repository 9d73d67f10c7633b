/**
 * Where the cloud sink keeps results (docs/SINK.md): one row per result id, the highest
 * revision kept, and counters. Two stores implement it, with one contract test suite
 * (result-store.abstract.ts): a SQLite file (sink-store.ts) and PostgreSQL (pg-store.ts).
 */

export interface SinkResult {
  kind: string;
  id: string;
  revision: number;
  device?: string;
  rule?: string;
  key?: string;
  start?: number;
  end?: number;
  partial?: boolean;
}

/**
 * inserted/updated: stored. duplicate: the same id, revision and body as stored (a resend).
 * conflict: the same id and revision but a different body — kept as first stored, and
 * counted, because it means two producers disagree. stale: a lower revision than stored.
 */
export type UpsertOutcome = "inserted" | "updated" | "duplicate" | "conflict" | "stale";

/** A result as received, and its body (the JSON stored). */
export interface Incoming {
  result: SinkResult;
  body: string;
}

/** A stored row, as a reader of either store sees it. */
export interface StoredRow {
  id: string;
  revision: number;
  kind: string;
  device: string | null;
  rule: string | null;
  key: string | null;
  windowStart: number | null;
  windowEnd: number | null;
  partial: boolean | null;
  body: unknown;
  receivedAt: number;
}

/**
 * A row of table `results` as either database hands it over: SQLite's 0/1 and JSON text,
 * PostgreSQL's booleans, jsonb parsed, bigints as strings.
 */
export interface ResultRow {
  id: string;
  revision: number;
  kind: string;
  device: string | null;
  rule: string | null;
  key: string | null;
  window_start: number | string | null;
  window_end: number | string | null;
  partial: number | boolean | null;
  body: string | object;
  received_at: number | string;
}

/** A database's row as both stores give it to their readers. */
export function storedRow(r: ResultRow): StoredRow {
  const num = (v: number | string | null) => (v === null ? null : Number(v));
  return {
    id: r.id,
    revision: r.revision,
    kind: r.kind,
    device: r.device,
    rule: r.rule,
    key: r.key,
    windowStart: num(r.window_start),
    windowEnd: num(r.window_end),
    partial: r.partial === null ? null : r.partial === true || r.partial === 1,
    body: typeof r.body === "string" ? JSON.parse(r.body) : r.body,
    receivedAt: Number(r.received_at),
  };
}

export interface ResultStore {
  /**
   * One message's results, in one transaction with the stored counters: `stats` (counted
   * by the sink: messages, rejected) and each outcome's (OUTCOME_COUNTER) added. Returns
   * the outcome of each result, in order. Of several results with one id, the highest
   * revision (the first of equals) is written and the others are judged against what is
   * stored after it (see collapse). Rejects when nothing could be committed.
   */
  write(
    batch: readonly Incoming[],
    stats: Readonly<Record<string, number>>,
    nowMs: number,
  ): Promise<UpsertOutcome[]>;
  /** Lifetime counters (every sink's, summed) and rows by kind. */
  stats(): Promise<{ counters: Record<string, number>; rows: Record<string, number> }>;
  count(): Promise<number>;
  get(id: string): Promise<StoredRow | undefined>;
  close(): Promise<void>;
}

/**
 * A message's results by id: the one to write for each id (the highest revision, the
 * first of equals), and the indexes of the others.
 */
export function collapse(batch: readonly Incoming[]): { winners: number[]; losers: number[] } {
  const best = new Map<string, number>();
  batch.forEach((item, i) => {
    const at = best.get(item.result.id);
    if (at === undefined || item.result.revision > (batch[at] as Incoming).result.revision)
      best.set(item.result.id, i);
  });
  const winners = [...best.values()].sort((a, b) => a - b);
  const chosen = new Set(winners);
  return { winners, losers: batch.map((_, i) => i).filter((i) => !chosen.has(i)) };
}

/** A result not written, judged against the row stored for its id. */
export function judge(
  revision: number,
  stored: { revision: number; sameBody: boolean },
): UpsertOutcome {
  if (revision < stored.revision) return "stale";
  return stored.sameBody ? "duplicate" : "conflict";
}

/** The counter each outcome adds to. */
export const OUTCOME_COUNTER: Record<UpsertOutcome, string> = {
  inserted: "inserted",
  updated: "updated",
  duplicate: "duplicates",
  conflict: "conflicts",
  stale: "stale",
};

/** `stats` with the outcomes' counts added. */
export function withOutcomes(
  stats: Readonly<Record<string, number>>,
  outcomes: readonly UpsertOutcome[],
): Record<string, number> {
  const all: Record<string, number> = { ...stats };
  for (const o of outcomes) all[OUTCOME_COUNTER[o]] = (all[OUTCOME_COUNTER[o]] ?? 0) + 1;
  return all;
}
