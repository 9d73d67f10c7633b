/** Helpers for the simulator tests: a scenario's whole stream and truth, in memory. */
import { readFileSync } from "node:fs";
import { fleetStream } from "./fleet-source.js";
import { parseScenario, type ScenarioOverrides, type ScenarioPlan } from "./scenario.js";
import type { MessageStream, SimMessage, TruthRecord } from "./stream.js";

export const FIXED_START = "2026-01-01T00:00:00Z";

export function planOf(
  file: string,
  text: string,
  overrides: ScenarioOverrides = {},
): ScenarioPlan {
  const loaded = parseScenario(file, text, { start: FIXED_START, ...overrides }, 0);
  if (!loaded.ok)
    throw new Error(loaded.problems.map((p) => `${p.where}: ${p.path}: ${p.message}`).join("\n"));
  return loaded.plan;
}

export function planFromFile(file: string, overrides: ScenarioOverrides = {}): ScenarioPlan {
  return planOf(file, readFileSync(file, "utf8"), overrides);
}

export interface Generated {
  messages: SimMessage[];
  truth: TruthRecord[];
  stream: MessageStream;
}

export function generate(plan: ScenarioPlan): Generated {
  const truth: TruthRecord[] = [];
  const stream = fleetStream(plan, (r) => truth.push(r));
  const messages: SimMessage[] = [];
  for (let m = stream.next(); m !== undefined; m = stream.next()) messages.push(m);
  return { messages, truth, stream };
}
