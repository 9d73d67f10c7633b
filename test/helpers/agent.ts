/** An in-process agent on an embedded broker with a rules file, for tests that read its outbox. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../agent/config/load.js";
import { Agent, type AgentOptions } from "../../agent/runtime/agent.js";
import { createLogger } from "../../agent/runtime/log.js";
import { SqliteOutbox } from "../../cloud-sync/sqlite-outbox.js";

export interface TestAgent {
  agent: Agent;
  dir: string;
  rulesFile: string;
  /** Every result waiting in the agent's outbox (it has no uplink), parsed. */
  outboxResults<T>(): T[];
  /** The same, with each record's topic and priority. */
  outboxRecords<T>(): { topic: string; priority: number; result: T }[];
}

export async function startAgentWithRules(
  name: string,
  rules: string,
  options: AgentOptions = {},
): Promise<TestAgent> {
  const dir = mkdtempSync(join(tmpdir(), `brook-${name}-`));
  const rulesFile = join(dir, "rules.yaml");
  writeFileSync(rulesFile, rules);
  const config = parseConfig(
    join(dir, "config.yaml"),
    "device: d\nedge: {embedded: {port: 0}}\nrules: rules.yaml\nhttp: {enabled: false}\n",
  );
  const agent = await Agent.start(config, { logger: createLogger("silent"), ...options });
  return {
    agent,
    dir,
    rulesFile,
    outboxResults: <T>() => outboxResults<T>(dir),
    outboxRecords: <T>() => outboxRecords<T>(dir),
  };
}

/** The results in the outbox of an agent whose dataDir is `<dir>/data`, in send order. */
export function outboxResults<T>(dir: string): T[] {
  return outboxRecords<T>(dir).map((r) => r.result);
}

function outboxRecords<T>(dir: string): { topic: string; priority: number; result: T }[] {
  const outbox = new SqliteOutbox(join(dir, "data", "outbox.db"));
  const rows = outbox.peek(1_000, new Set()).map((r) => ({
    topic: r.topic,
    priority: r.priority as number,
    result: JSON.parse(r.payload.toString()) as T,
  }));
  outbox.close();
  return rows;
}
