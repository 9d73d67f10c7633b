/**
 * A rules file read and checked (rules/load.ts), then compiled into the engine's plan: the
 * agent's one way in for rules, at start, on a reload and in `brook rules check`.
 */
import { loadRulesSpec, parseRulesSpec, type RulesSpecResult } from "../../rules/load.js";
import { formatProblem, type Problem } from "../../rules/validate-yaml.js";
import { BrookError } from "../errors.js";
import { compileRules, DEFAULT_RULES } from "./compile.js";
import type { CompiledRule, CompiledSource } from "./plan.js";

export interface CompiledRules {
  rules: readonly CompiledRule[];
  sources: readonly CompiledSource[];
}

export type RulesLoadResult =
  | ({ ok: true } & CompiledRules)
  | { ok: false; unreadable: boolean; problems: Problem[] };

function compiled(result: RulesSpecResult): RulesLoadResult {
  return result.ok ? { ok: true, ...compileRules(result.spec) } : result;
}

export function loadRulesFile(file: string): RulesLoadResult {
  return compiled(loadRulesSpec(file));
}

export function parseRules(file: string, text: string): RulesLoadResult {
  return compiled(parseRulesSpec(file, text));
}

/** The rules to start with: the file's, or the default rule; an unusable file is a coded error. */
export function loadRules(file: string | undefined): CompiledRules {
  if (file === undefined) return { rules: DEFAULT_RULES, sources: [] };
  const loaded = loadRulesFile(file);
  if (loaded.ok) return loaded;
  const details = loaded.problems.map(formatProblem);
  throw new BrookError(
    loaded.unreadable ? "BROOK_ERR_RULES_UNREADABLE" : "BROOK_ERR_RULES_INVALID",
    `invalid rules file ${file}:\n  ${details.join("\n  ")}`,
    details,
  );
}
