/**
 * Which readings a rule takes: its sensor glob, source, tags and value filter, compiled
 * once per rule into one predicate (the engine calls it for every reading and rule).
 */
import type { CompiledRule } from "../compile/plan.js";
import type { Reading } from "./types.js";

export function readingFilter(
  rule: CompiledRule,
): (reading: Reading, source: string | undefined) => boolean {
  const matches = globMatcher(rule.sensors);
  const { source, tags, filter } = rule;
  if (source === undefined && tags === undefined && filter === undefined)
    return (r) => matches(r.sensor);
  const tagEntries = Object.entries(tags ?? {});
  const min = filter?.min ?? Number.NEGATIVE_INFINITY;
  const max = filter?.max ?? Number.POSITIVE_INFINITY;
  return (r, from) => {
    if (source !== undefined && from !== source) return false;
    if (r.value < min || r.value > max || !matches(r.sensor)) return false;
    for (const [k, v] of tagEntries) if (r.tags?.[k] !== v) return false;
    return true;
  };
}

/** `*` matches any run of characters (including '/'), `?` one character. */
export function globMatcher(glob: string): (sensor: string) => boolean {
  if (glob === "*") return () => true;
  const source = glob
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  const re = new RegExp(`^${source}$`);
  return (sensor) => re.test(sensor);
}
