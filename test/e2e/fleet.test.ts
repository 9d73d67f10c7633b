/**
 * The cloud side with its real parts (scripts/fleet-run.ts, `npm run fleet` at scale): a
 * cloud mosquitto, PostgreSQL, agents fed by `brook sim`, two `brook cloud-sink`s in one
 * group; a sink and an agent killed midway (SIGKILL) and restarted. Every result the
 * agents committed must be in PostgreSQL exactly once, at its highest revision.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkoutCommand } from "../../scripts/bundle.js";
import { runFleet } from "../../scripts/fleet-run.js";
import { postgresMissing } from "../helpers/postgres.js";

describe("a fleet into PostgreSQL", () => {
  it("4 agents, 2 sinks in one group, a sink and an agent killed midway: every result in PostgreSQL exactly once at its highest revision, the load shared", {
    skip: postgresMissing() ?? false,
    timeout: 240_000,
  }, async () => {
    const report = await runFleet({
      brook: await checkoutCommand(),
      devices: 4,
      sinks: 2,
      seconds: 16,
      sensors: 4,
    });
    assert.equal(report.missing, 0, JSON.stringify(report));
    assert.equal(report.wrongRevision, 0, JSON.stringify(report));
    assert.equal(report.notAudited, 0, JSON.stringify(report));
    assert.equal(report.rowsInDatabase, report.results);
    // 4 devices × 4 sensors × 16 one-second windows, at least (the agent killed resumes its windows).
    assert.ok(report.results >= 4 * 4 * 14, JSON.stringify(report));
    assert.deepEqual(Object.keys(report.perSink).sort(), ["sink-0", "sink-1"]);
    for (const s of Object.values(report.perSink)) assert.ok(s.results > 0, JSON.stringify(report));
  });
});
