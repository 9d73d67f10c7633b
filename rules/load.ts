/** Loads and checks a rules file; returns every problem found, never just the first. */
import { readFileSync } from "node:fs";
import { parseDuration } from "./duration.js";
import { type AggregateKind, type RuleSpec, RulesFile, type RulesFileSpec } from "./schema.js";
import { compileSchema, type Problem, parseYamlDocument, schemaProblems } from "./validate-yaml.js";

export const DEFAULT_WINDOW_MS = 60_000;
export const DEFAULT_AGGREGATES: readonly AggregateKind[] = ["count", "mean", "min", "max"];

/** A rule with every default applied and durations turned into milliseconds. */
export interface CompiledRule {
  readonly name: string;
  readonly sensors: string;
  readonly windowMs: number;
  readonly allowedLatenessMs: number;
  readonly aggregates: readonly AggregateKind[];
}

export type RulesLoadResult =
  | { ok: true; rules: CompiledRule[] }
  | { ok: false; unreadable: boolean; problems: Problem[] };

const validateRulesFile = compileSchema(RulesFile);

export function loadRulesFile(file: string): RulesLoadResult {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? String(err);
    return {
      ok: false,
      unreadable: true,
      problems: [{ where: file, path: "", message: `cannot read (${reason})` }],
    };
  }
  return parseRules(file, text);
}

export function parseRules(file: string, text: string): RulesLoadResult {
  const doc = parseYamlDocument(file, text);
  if (doc.problems.length > 0) return { ok: false, unreadable: false, problems: doc.problems };
  if (!validateRulesFile(doc.value)) {
    const problems = schemaProblems(validateRulesFile.errors ?? [], doc.locate);
    return { ok: false, unreadable: false, problems };
  }
  const spec = doc.value as RulesFileSpec;
  const problems: Problem[] = [];
  const names = new Set<string>();
  spec.rules.forEach((rule, i) => {
    if (names.has(rule.name)) {
      problems.push({
        where: doc.locate(["rules", i, "name"]),
        path: `rules.${i}.name`,
        message: `duplicate rule name "${rule.name}"`,
      });
    }
    names.add(rule.name);
    if (rule.window?.size !== undefined && parseDuration(rule.window.size) === 0) {
      problems.push({
        where: doc.locate(["rules", i, "window", "size"]),
        path: `rules.${i}.window.size`,
        message: "must be longer than 0",
      });
    }
  });
  if (problems.length > 0) return { ok: false, unreadable: false, problems };
  return { ok: true, rules: spec.rules.map(compileRule) };
}

export function compileRule(rule: RuleSpec): CompiledRule {
  return Object.freeze({
    name: rule.name,
    sensors: rule.sensors ?? "*",
    windowMs:
      rule.window?.size === undefined
        ? DEFAULT_WINDOW_MS
        : (parseDuration(rule.window.size) as number),
    allowedLatenessMs:
      rule.allowedLateness === undefined ? 0 : (parseDuration(rule.allowedLateness) as number),
    aggregates: Object.freeze([...(rule.aggregates ?? DEFAULT_AGGREGATES)]),
  });
}

/** The rule used when the config names no rules file. */
export const DEFAULT_RULES: readonly CompiledRule[] = Object.freeze([
  compileRule({ name: "default", window: { type: "tumbling" } }),
]);
