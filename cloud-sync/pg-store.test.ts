/**
 * The PostgreSQL store of the cloud sink against a real server (Debian's postgresql, made
 * by initdb in a temporary directory): the stores' shared contract, and its migrations.
 */
import { match, rejects, strictEqual } from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { type Postgres, postgresMissing, startPostgres } from "../test/helpers/postgres.js";
import { PgStore, SCHEMA_VERSION } from "./pg-store.js";
import { resultStoreSuite } from "./result-store.abstract.js";

const missing = postgresMissing();
let server: Postgres | undefined;

async function sql(text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: server?.url });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

describe("PostgreSQL sink store", { skip: missing ?? false }, () => {
  before(async () => {
    server = await startPostgres({ durable: false });
  });
  after(async () => {
    await server?.stop();
  });

  resultStoreSuite("PostgreSQL", {
    async fresh() {
      await sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public");
    },
    open: (sink) => PgStore.open({ url: server?.url as string, sink }),
  });

  it("creates its schema at the current version, and refuses one made by a newer Brook", async () => {
    await sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public");
    const store = await PgStore.open({ url: server?.url as string, sink: "s" });
    await store.close();
    strictEqual(
      (await sql("SELECT version FROM brook_sink_schema")).rows[0].version,
      SCHEMA_VERSION,
    );
    const indexes = (
      await sql("SELECT indexname FROM pg_indexes WHERE tablename = 'results' ORDER BY 1")
    ).rows.map((r) => r.indexname);
    strictEqual(indexes.join(","), "results_open_alerts,results_pkey,results_window");
    await sql(`UPDATE brook_sink_schema SET version = ${SCHEMA_VERSION + 1}`);
    await rejects(PgStore.open({ url: server?.url as string, sink: "s" }), (err: Error) => {
      match(err.message, /schema is version 2, made by a newer Brook; this one knows up to 1/);
      return true;
    });
  });
});
