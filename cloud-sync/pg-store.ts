/**
 * The cloud sink's PostgreSQL store (result-store.ts; docs/SINK.md): the SQLite file's
 * table layout, `body` as jsonb. One message's results are one transaction: a multi-row
 * INSERT … ON CONFLICT (id) DO UPDATE … WHERE excluded.revision > results.revision, so
 * several sinks (one `--group`) write concurrently and the highest revision wins whatever
 * the order; what was not written is judged against the row stored (read after the insert,
 * which waits for a concurrent writer of the same id). Counters are kept per sink (no row
 * shared by sinks). The schema is versioned (brook_sink_schema) and migrated under an
 * advisory lock, so sinks starting together migrate once.
 */
import pg from "pg";
import {
  collapse,
  type Incoming,
  judge,
  type ResultRow,
  type ResultStore,
  type StoredRow,
  storedRow,
  type UpsertOutcome,
  withOutcomes,
} from "./result-store.js";

/** The schema's migrations, in order: version N is MIGRATIONS[N - 1]. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE results (
     id text PRIMARY KEY,
     revision integer NOT NULL,
     kind text NOT NULL,
     device text,
     rule text,
     key text,
     window_start bigint,
     window_end bigint,
     partial boolean,
     body jsonb NOT NULL,
     received_at bigint NOT NULL
   );
   CREATE INDEX results_window ON results (device, rule, key, window_start);
   CREATE INDEX results_open_alerts ON results (device, rule, key)
     WHERE kind = 'alert' AND body->>'state' = 'open';
   CREATE TABLE sink_stats (
     sink text NOT NULL,
     name text NOT NULL,
     value bigint NOT NULL,
     PRIMARY KEY (sink, name)
   );`,
];
export const SCHEMA_VERSION = MIGRATIONS.length;
/** Tries of a transaction that PostgreSQL rolled back for a deadlock or a serialization failure. */
const MAX_ATTEMPTS = 5;
/** pg_advisory_xact_lock's key for the migration: "brook" in ASCII. */
const MIGRATION_LOCK = 0x62726f6f6b;

const COLUMNS =
  "id, revision, kind, device, rule, key, window_start, window_end, partial, body, received_at";
/** An INSERT into `table` of the rows given as one array per column ($1–$11: see rowArrays). */
export function insertRows(table: string): string {
  return `INSERT INTO ${table} (${COLUMNS})
  SELECT * FROM unnest($1::text[], $2::integer[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::bigint[], $8::bigint[], $9::boolean[], $10::jsonb[], $11::bigint[]) AS t(${COLUMNS})`;
}

/** insertRows' parameters: the results, a column at a time. */
export function rowArrays(rows: readonly Incoming[], nowMs: number): unknown[] {
  return [
    rows.map((r) => r.result.id),
    rows.map((r) => r.result.revision),
    rows.map((r) => r.result.kind),
    rows.map((r) => r.result.device ?? null),
    rows.map((r) => r.result.rule ?? null),
    rows.map((r) => r.result.key ?? null),
    rows.map((r) => r.result.start ?? null),
    rows.map((r) => r.result.end ?? null),
    rows.map((r) => r.result.partial ?? null),
    rows.map((r) => r.body),
    rows.map(() => nowMs),
  ];
}

const UPSERT = `${insertRows("results")}
  -- Rows locked in one order by every writer: two sinks' batches cannot deadlock.
  ORDER BY t.id
  ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, kind = excluded.kind,
    device = excluded.device, rule = excluded.rule, key = excluded.key,
    window_start = excluded.window_start, window_end = excluded.window_end,
    partial = excluded.partial, body = excluded.body, received_at = excluded.received_at
  WHERE excluded.revision > results.revision
  RETURNING id, (xmax = 0) AS inserted`;

/** Each result not written, against its stored row: stored revision, and whether the bodies are equal (as jsonb). */
const STORED = `SELECT i.n, r.revision, r.body = i.body AS same
  FROM unnest($1::text[], $2::jsonb[]) WITH ORDINALITY AS i(id, body, n)
  JOIN results r ON r.id = i.id`;

const ADD_STATS = `INSERT INTO sink_stats (sink, name, value)
  SELECT $1, * FROM unnest($2::text[], $3::bigint[])
  ON CONFLICT (sink, name) DO UPDATE SET value = sink_stats.value + excluded.value`;

export interface PgStoreOptions {
  /** postgres://…; the pg client's environment (PGPASSWORD, PGSSLMODE, …) fills the gaps */
  url: string;
  /** whose counters these are (the sink's MQTT client id) */
  sink: string;
}

export class PgStore implements ResultStore {
  private constructor(
    private readonly pool: pg.Pool,
    private readonly sink: string,
  ) {}

  /** Connects, and creates or migrates the schema. */
  static async open(options: PgStoreOptions): Promise<PgStore> {
    const pool = new pg.Pool({ connectionString: options.url, max: 2 });
    // An idle connection dropped by the server is an error event, not a crash.
    pool.on("error", () => undefined);
    try {
      await migrate(pool);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    return new PgStore(pool, options.sink);
  }

  async write(
    batch: readonly Incoming[],
    stats: Readonly<Record<string, number>>,
    nowMs: number,
  ): Promise<UpsertOutcome[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.writeOnce(batch, stats, nowMs);
      } catch (err) {
        // A deadlock or serialization failure rolled the transaction back: try it again.
        const code = (err as { code?: string }).code;
        if ((code !== "40P01" && code !== "40001") || attempt >= MAX_ATTEMPTS) throw err;
      }
    }
  }

  private async writeOnce(
    batch: readonly Incoming[],
    stats: Readonly<Record<string, number>>,
    nowMs: number,
  ): Promise<UpsertOutcome[]> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const outcomes = await this.upsert(client, batch, nowMs);
      const all = Object.entries(withOutcomes(stats, outcomes)).filter(([, v]) => v !== 0);
      if (all.length > 0)
        await client.query(ADD_STATS, [this.sink, all.map(([k]) => k), all.map(([, v]) => v)]);
      await client.query("COMMIT");
      return outcomes;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  private async upsert(
    client: pg.PoolClient,
    batch: readonly Incoming[],
    nowMs: number,
  ): Promise<UpsertOutcome[]> {
    const outcomes: UpsertOutcome[] = new Array(batch.length);
    if (batch.length === 0) return outcomes;
    const { winners, losers } = collapse(batch);
    const rows = winners.map((i) => batch[i] as Incoming);
    const written = await client.query<{ id: string; inserted: boolean }>(
      UPSERT,
      rowArrays(rows, nowMs),
    );
    const done = new Map(written.rows.map((r) => [r.id, r.inserted]));
    const unwritten = [
      ...winners.filter((i) => !done.has((batch[i] as Incoming).result.id)),
      ...losers,
    ];
    for (const i of winners) {
      const inserted = done.get((batch[i] as Incoming).result.id);
      if (inserted !== undefined) outcomes[i] = inserted ? "inserted" : "updated";
    }
    if (unwritten.length > 0) {
      const stored = await client.query<{ n: string; revision: number; same: boolean }>(STORED, [
        unwritten.map((i) => (batch[i] as Incoming).result.id),
        unwritten.map((i) => (batch[i] as Incoming).body),
      ]);
      for (const s of stored.rows) {
        const i = unwritten[Number(s.n) - 1] as number;
        outcomes[i] = judge((batch[i] as Incoming).result.revision, {
          revision: s.revision,
          sameBody: s.same,
        });
      }
    }
    return outcomes;
  }

  async stats(): Promise<{ counters: Record<string, number>; rows: Record<string, number> }> {
    const counters = await this.pool.query<{ name: string; value: string }>(
      "SELECT name, sum(value)::bigint AS value FROM sink_stats GROUP BY name ORDER BY name",
    );
    const kinds = await this.pool.query<{ kind: string; n: string }>(
      "SELECT kind, count(*) AS n FROM results GROUP BY kind ORDER BY kind",
    );
    return {
      counters: Object.fromEntries(counters.rows.map((r) => [r.name, Number(r.value)])),
      rows: Object.fromEntries(kinds.rows.map((r) => [r.kind, Number(r.n)])),
    };
  }

  async count(): Promise<number> {
    const r = await this.pool.query<{ n: string }>("SELECT count(*) AS n FROM results");
    return Number(r.rows[0]?.n ?? 0);
  }

  async get(id: string): Promise<StoredRow | undefined> {
    const r = await this.pool.query<ResultRow>("SELECT * FROM results WHERE id = $1", [id]);
    const row = r.rows[0];
    return row === undefined ? undefined : storedRow(row);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** Creates the schema, or brings it to SCHEMA_VERSION; refuses one newer than this Brook knows. */
async function migrate(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    await client.query("CREATE TABLE IF NOT EXISTS brook_sink_schema (version integer NOT NULL)");
    const r = await client.query<{ version: number }>("SELECT version FROM brook_sink_schema");
    const version = r.rows[0]?.version ?? 0;
    if (version > SCHEMA_VERSION)
      throw new Error(
        `the database's results schema is version ${version}, made by a newer Brook; this one knows up to ${SCHEMA_VERSION}`,
      );
    for (let v = version; v < SCHEMA_VERSION; v++) await client.query(MIGRATIONS[v] as string);
    if (r.rows.length === 0)
      await client.query("INSERT INTO brook_sink_schema (version) VALUES ($1)", [SCHEMA_VERSION]);
    else await client.query("UPDATE brook_sink_schema SET version = $1", [SCHEMA_VERSION]);
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
