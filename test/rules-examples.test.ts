/**
 * Every example in rules/examples/ is loaded and run against its fixture in
 * rules/examples/fixtures/: MQTT messages (topic, payload, arrival time) go through the
 * agent's own decoding and engine, and the results, where each would be published, and
 * the dead letters must be exactly those the fixture expects.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { parse, stringify } from "yaml";
import { loadRulesFile } from "../agent/compile/load.js";
import type { CompiledRule } from "../agent/compile/plan.js";
import { Engine } from "../agent/engine/engine.js";
import type { EngineOutput } from "../agent/engine/types.js";
import { decodeBySources } from "../agent/ingest/decode.js";
import { expandOutputTopic } from "../rules/topic.js";
import { formatProblem } from "../rules/validate-yaml.js";

const dir = new URL("../rules/examples/", import.meta.url);
const SCHEMA_LINE = "# yaml-language-server: $schema=../schema.json";

interface Fixture {
  /** arrival times are seconds after this */
  start: string;
  device: string;
  messages: ({ at: number; topic: string; payload: string } | { tick: number })[];
  expect: { results: Record<string, unknown>[]; dead: Record<string, number> };
}

const iso = (ms: number) => new Date(ms).toISOString();
const round = (x: number | null) => (x === null ? null : Math.round(x * 1e4) / 1e4);

/** What a reader checks: times as ISO strings, numbers to 4 decimals, where the result goes. */
function view(o: Exclude<EngineOutput, { kind: "dead" }>, rule: CompiledRule, device: string) {
  const local = o.kind === "alert" ? rule.outputs.localAlerts : rule.outputs.local;
  const where = {
    ...(local === undefined
      ? {}
      : {
          local: expandOutputTopic(local, {
            device,
            rule: o.rule,
            key: o.key,
            kind: o.kind,
          }),
        }),
    ...(rule.outputs.upstream ? {} : { upstream: false }),
  };
  switch (o.kind) {
    case "agg":
      return {
        rule: o.rule,
        kind: o.kind,
        key: o.key,
        start: iso(o.start),
        end: iso(o.end),
        ...(o.revision === 0 ? {} : { revision: o.revision }),
        ...(o.partial ? { partial: true } : {}),
        aggregates: Object.fromEntries(
          Object.entries(o.aggregates).map(([k, v]) => [k, round(v as number | null)]),
        ),
        ...where,
      };
    case "alert":
      return {
        rule: o.rule,
        kind: o.kind,
        key: o.key,
        detector: o.detector,
        ts: iso(o.ts),
        value: o.value,
        score: round(o.score),
        ...(o.since === undefined ? {} : { since: iso(o.since) }),
        ...(o.resolvedAt === undefined
          ? {}
          : { revision: o.revision, resolvedAt: iso(o.resolvedAt) }),
        ...(o.reason === undefined ? {} : { reason: o.reason }),
        ...where,
      };
    case "late":
      return {
        rule: o.rule,
        kind: o.kind,
        key: o.key,
        ts: iso(o.reading.ts),
        value: o.reading.value,
        ...where,
      };
  }
}

const examples = readdirSync(dir)
  .filter((f) => f.endsWith(".yaml"))
  .sort();

describe("rules/examples", () => {
  it("has at least six examples, each starting with the schema line", () => {
    ok(examples.length >= 6, `${examples.length} examples`);
    for (const f of examples)
      deepStrictEqual(readFileSync(new URL(f, dir), "utf8").split("\n")[0], SCHEMA_LINE, f);
  });

  for (const file of examples) {
    it(`${file} runs its fixture`, () => {
      const loaded = loadRulesFile(new URL(file, dir).pathname);
      ok(loaded.ok, loaded.ok ? "" : loaded.problems.map(formatProblem).join("\n"));
      const fixture = parse(readFileSync(new URL(`fixtures/${file}`, dir), "utf8")) as Fixture;
      const t0 = Date.parse(fixture.start);
      const engine = new Engine({ device: fixture.device, rules: loaded.rules });
      const out: EngineOutput[] = [];
      const dead: Record<string, number> = {};
      for (const m of fixture.messages) {
        if ("tick" in m) {
          engine.tick(t0 + m.tick * 1000, out);
          continue;
        }
        const now = t0 + m.at * 1000;
        engine.tick(now, out); // the agent ticks once a second: idle keys are flushed on time
        // The agent's own routing: every source whose topic filter matches decodes the message.
        const decodings = decodeBySources(loaded.sources, m.topic, Buffer.from(m.payload), now);
        if (decodings.length === 0) dead.bad_topic = (dead.bad_topic ?? 0) + 1;
        for (const { source, decoded } of decodings) {
          for (const d of decoded.dead) dead[d.reason] = (dead[d.reason] ?? 0) + 1;
          for (const r of decoded.readings) engine.process(r, now, out, source.name);
        }
      }
      const rules = new Map(loaded.rules.map((r) => [r.name, r]));
      const results = out.flatMap((o) => {
        if (o.kind === "dead") {
          dead.future = (dead.future ?? 0) + 1;
          return [];
        }
        return [view(o, rules.get(o.rule) as CompiledRule, fixture.device)];
      });
      if (process.env.BROOK_SHOW_RESULTS === "1")
        // To write a new fixture's expectations: print what it produces, then check each by hand.
        console.log(
          `${file}:\n${results.map((r) => `  - ${stringify(r, { collectionStyle: "flow", lineWidth: 0 }).trim()}`).join("\n")}\n${JSON.stringify(dead)}`,
        );
      deepStrictEqual(results, fixture.expect.results);
      deepStrictEqual(dead, fixture.expect.dead);
    });
  }
});
