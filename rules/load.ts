/**
 * Loads and checks a rules file into a frozen spec; returns every problem found, never just
 * the first. Knows the rules language only: the engine's plan is compiled from the spec
 * elsewhere (agent/compile).
 */
import { readFileSync } from "node:fs";
import {
  detectorProblems,
  outputProblems,
  sensorTemplateProblem,
  windowProblems,
} from "./checks.js";
import type { RuleSpec, RulesFileSpec, SourceSpec } from "./schema.js";
import { topicFilterProblem } from "./topic.js";
import { deepFreeze, type Problem, parseYamlDocument, schemaProblems } from "./validate-yaml.js";
// Compiled from ./schema.ts by `npm run schema` (scripts/validators.ts).
import {
  Detector as validateDetector,
  Outputs as validateOutputs,
  RulesFile as validateRulesFile,
  Source as validateSource,
  Window as validateWindow,
} from "./validators.gen.cjs";

export type RulesSpecResult =
  | { ok: true; spec: Readonly<RulesFileSpec> }
  | { ok: false; unreadable: boolean; problems: Problem[] };

/** The objects of a list, with their positions in it. */
function objects(list: unknown): [number, Record<string, unknown>][] {
  if (!Array.isArray(list)) return [];
  const out: [number, Record<string, unknown>][] = [];
  list.forEach((item, i) => {
    if (item !== null && typeof item === "object" && !Array.isArray(item))
      out.push([i, item as Record<string, unknown>]);
  });
  return out;
}

/** Problems in the order of the file (stable for problems at one place). */
function byPosition(problems: Problem[]): Problem[] {
  const pos = (p: Problem) => {
    const m = /:(\d+):(\d+)$/.exec(p.where);
    return m === null ? [0, 0] : [Number(m[1]), Number(m[2])];
  };
  return problems
    .map((p, i) => ({ p, i, at: pos(p) }))
    .sort(
      (a, b) =>
        (a.at[0] as number) - (b.at[0] as number) ||
        (a.at[1] as number) - (b.at[1] as number) ||
        a.i - b.i,
    )
    .map((x) => x.p);
}

export function loadRulesSpec(file: string): RulesSpecResult {
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
  return parseRulesSpec(file, text);
}

export function parseRulesSpec(file: string, text: string): RulesSpecResult {
  const doc = parseYamlDocument(file, text);
  if (doc.problems.length > 0) return { ok: false, unreadable: false, problems: doc.problems };
  if (doc.value === null || doc.value === undefined) {
    return {
      ok: false,
      unreadable: false,
      problems: [
        { where: `${file}:1:1`, path: "", message: "the file is empty: it needs a `rules:` list" },
      ],
    };
  }
  const schemaOk = validateRulesFile(doc.value);
  const problems = schemaOk ? [] : schemaProblems(validateRulesFile.errors ?? [], doc.locate);
  // Facts across fields are checked wherever the fields they read are valid, so one run
  // reports them beside the schema's problems.
  const raw = doc.value as { sources?: unknown; rules?: unknown };
  // A part of a valid file is valid: only a file the schema refused is checked part by part.
  const valid = (validate: (item: unknown) => boolean, item: unknown) => schemaOk || validate(item);
  const rawSources = objects(raw.sources);
  const rawRules = objects(raw.rules);
  const at = (list: string, i: number) => (path: (string | number)[], message: string) =>
    problems.push({
      where: doc.locate([list, i, ...path]),
      path: [list, i, ...path].join("."),
      message,
    });
  /** Names seen so far in a list; a second use of one is a problem. */
  const uniqueName = (
    names: Set<string>,
    what: string,
    item: Record<string, unknown>,
    problem: ReturnType<typeof at>,
  ) => {
    if (typeof item.name !== "string") return;
    if (names.has(item.name)) problem(["name"], `duplicate ${what} name "${item.name}"`);
    names.add(item.name);
  };
  const sourceNames = new Set<string>();
  for (const [i, source] of rawSources) {
    const problem = at("sources", i);
    uniqueName(sourceNames, "source", source, problem);
    const bad = typeof source.topic === "string" ? topicFilterProblem(source.topic) : undefined;
    if (bad !== undefined) problem(["topic"], bad);
    const badSensor = sensorTemplateProblem(source);
    if (badSensor !== undefined) problem(["sensor"], badSensor);
    if (typeof source.format === "string" && source.format !== "json")
      for (const field of ["fields", "time"])
        if (source[field] !== undefined)
          problem([field], `only json sources have ${field} (this one is ${source.format})`);
  }
  const validSources = Array.isArray(raw.sources)
    ? rawSources.filter(([, s]) => valid(validateSource, s)).map(([, s]) => s as SourceSpec)
    : undefined;
  const ruleNames = new Set<string>();
  for (const [i, rule] of rawRules) {
    const problem = at("rules", i);
    uniqueName(ruleNames, "rule", rule, problem);
    if (typeof rule.source === "string" && !sourceNames.has(rule.source)) {
      problem(
        ["source"],
        sourceNames.size === 0
          ? `no source "${rule.source}": the file defines no sources`
          : `no source "${rule.source}" (sources: ${[...sourceNames].join(", ")})`,
      );
    }
    const filter = rule.filter as { min?: unknown; max?: unknown } | undefined;
    if (
      typeof filter?.min === "number" &&
      typeof filter.max === "number" &&
      filter.min > filter.max
    )
      problem(["filter", "max"], "must be at least filter.min");
    const windowOk = rule.window === undefined || valid(validateWindow, rule.window);
    const detectors = rule.detectors;
    const detectorsOk =
      detectors === undefined ||
      (Array.isArray(detectors) && detectors.every((d) => valid(validateDetector, d)));
    const spec = rule as RuleSpec;
    if (windowOk)
      for (const p of windowProblems(spec.window)) problem(["window", p.field], p.message);
    if (detectorsOk)
      for (const p of detectorProblems(spec, windowOk))
        problem(["detectors", ...p.path], p.message);
    if (
      Array.isArray(rule.aggregates) &&
      rule.aggregates.length === 0 &&
      (detectors === undefined || (Array.isArray(detectors) && detectors.length === 0))
    )
      problem(["aggregates"], "a rule with no aggregates needs a detector, or it reports nothing");
    if (rule.outputs === undefined || valid(validateOutputs, rule.outputs))
      for (const p of outputProblems(spec, validSources)) problem(["outputs", p.field], p.message);
  }
  if (problems.length > 0) return { ok: false, unreadable: false, problems: byPosition(problems) };
  return { ok: true, spec: deepFreeze(doc.value as RulesFileSpec) };
}
