/**
 * Parse a YAML (or JSON) document and validate it against a JSON Schema, reporting every
 * problem as `FILE:LINE:COL: path.to.field: message`. Used for rules files and, through
 * agent/, for the agent's config file.
 */
import type { ErrorObject } from "ajv";
import { type Document, isMap, isNode, isPair, isScalar, LineCounter, parseDocument } from "yaml";

export interface Problem {
  /** e.g. "config.yaml:3:9", or "env BROOK_HTTP_PORT" for values that came from the environment */
  where: string;
  /** dotted field path, "" for the document itself */
  path: string;
  message: string;
}

export function formatProblem(p: Problem): string {
  return `${p.where}: ${p.path === "" ? "(document)" : p.path}: ${p.message}`;
}

export interface ParsedDocument {
  value: unknown;
  problems: Problem[];
  /** Position of the node at `path` (or its nearest existing parent) as "FILE:LINE:COL". */
  locate(path: readonly (string | number)[], preferKey?: boolean): string;
}

export function parseYamlDocument(file: string, text: string): ParsedDocument {
  const lineCounter = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): string => {
    const pos = lineCounter.linePos(offset);
    return `${file}:${pos.line}:${pos.col}`;
  };
  const problems: Problem[] = [];
  for (const err of doc.errors) {
    problems.push({ where: at(err.pos[0]), path: "", message: firstLine(err.message) });
  }
  const locate = (path: readonly (string | number)[], preferKey = false): string => {
    // Walk down as far as the path exists; report the deepest node found.
    let node: unknown = doc.contents;
    let offset = rangeStart(node) ?? 0;
    for (const segment of path) {
      if (!isMap(node) && !(isNode(node) && "items" in node)) break;
      const collection = node as { items: unknown[] };
      let next: unknown;
      let keyOffset: number | undefined;
      if (isMap(node)) {
        const pair = collection.items.find(
          (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment),
        );
        if (pair === undefined || !isPair(pair)) break;
        keyOffset = rangeStart(pair.key);
        next = pair.value;
      } else {
        next = collection.items[Number(segment)];
      }
      node = next;
      const start = preferKey && segment === path[path.length - 1] ? keyOffset : rangeStart(next);
      offset = start ?? keyOffset ?? offset;
    }
    return at(offset);
  };
  let value: unknown;
  if (problems.length === 0)
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      // An alias to no anchor, or too many aliases: the parser reports it only here.
      problems.push({ where: `${file}:1:1`, path: "", message: (err as Error).message });
    }
  return { value, problems, locate };
}

function rangeStart(node: unknown): number | undefined {
  if (isNode(node) && node.range !== undefined && node.range !== null) return node.range[0];
  return undefined;
}

/** ` (did you mean "x"?)` for the nearest of `candidates` to a misspelt `given`, or "". */
export function suggest(given: unknown, candidates: readonly unknown[]): string {
  if (typeof given !== "string" || given === "") return "";
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    if (typeof c !== "string") continue;
    const d = editDistance(given.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(given.length / 3))
    ? ` (did you mean "${best}"?)`
    : "";
}

/** Levenshtein distance. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[b.length] as number;
}

function describeBranches(branches: Record<string, unknown>[]): string {
  return branches
    .map((b) =>
      Array.isArray(b.enum)
        ? `one of ${b.enum.map((v) => JSON.stringify(v)).join(", ")}`
        : String(b.description ?? "valid"),
    )
    .join(", or ");
}

function firstLine(message: string): string {
  return message.split("\n")[0] ?? message;
}

/** A schema may name common synonyms (`x-aliases`: median → p50) to suggest instead of the nearest spelling. */
function aliasOf(e: ErrorObject): string | undefined {
  const aliases = e.parentSchema?.["x-aliases"] as Record<string, string> | undefined;
  const given = String(e.data).toLowerCase();
  const alias = aliases !== undefined && Object.hasOwn(aliases, given) ? aliases[given] : undefined;
  return alias === undefined ? undefined : ` (did you mean "${alias}"?)`;
}

/** Turns ajv errors into problems located in the source document. */
export function schemaProblems(
  errors: readonly ErrorObject[],
  locate: ParsedDocument["locate"],
  whereOverride?: (path: string[]) => string | undefined,
): Problem[] {
  const seen = new Set<string>();
  const out: Problem[] = [];
  // An anyOf that fails reports once, in its own words; its branches' errors are noise.
  const anyOfs = errors.filter((e) => e.keyword === "anyOf");
  const insideAnyOf = (e: ErrorObject) =>
    e.keyword !== "anyOf" &&
    anyOfs.some(
      (a) => a.instancePath === e.instancePath && e.schemaPath.startsWith(`${a.schemaPath}/`),
    );
  for (const e of errors) {
    if (insideAnyOf(e)) continue;
    const segments = e.instancePath
      .split("/")
      .slice(1)
      .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
    let message = e.message ?? "is invalid";
    let pointAtKey = false;
    if (e.keyword === "additionalProperties") {
      const extra = String((e.params as { additionalProperty: string }).additionalProperty);
      segments.push(extra);
      const known = Object.keys((e.parentSchema?.properties ?? {}) as object);
      message = `unknown field${suggest(extra, known)}`;
      pointAtKey = true;
    } else if (e.keyword === "required") {
      const missing = String((e.params as { missingProperty: string }).missingProperty);
      message = `missing required field "${missing}"`;
    } else if (e.keyword === "enum") {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
      const alias = aliasOf(e);
      message = `must be one of ${allowed.map((v) => JSON.stringify(v)).join(", ")}${alias ?? suggest(e.data, allowed)}`;
    } else if (e.keyword === "type" && typeof e.data === "number" && !Number.isFinite(e.data)) {
      message = "must be a finite number";
    } else if (e.keyword === "minLength" && (e.params as { limit: number }).limit === 1) {
      message = "must not be empty";
    } else if (e.keyword === "minItems") {
      const limit = (e.params as { limit: number }).limit;
      message = limit === 1 ? "must not be empty" : `must have at least ${limit} items`;
    } else if (e.keyword === "uniqueItems") {
      const { i, j } = e.params as { i: number; j: number };
      segments.push(String(Math.max(i, j)));
      message = `${JSON.stringify((e.data as unknown[])[i])} is listed twice`;
    } else if (e.keyword === "pattern" && typeof e.parentSchema?.description === "string") {
      message = `must be ${e.parentSchema.description}`;
    } else if (e.keyword === "anyOf") {
      const branches = (e.parentSchema?.anyOf ?? []) as Record<string, unknown>[];
      const enumValues = branches.flatMap((b) => (Array.isArray(b.enum) ? b.enum : []));
      message = `must be ${describeBranches(branches)}${aliasOf(e) ?? suggest(e.data, enumValues)}`;
    } else if (e.keyword === "discriminator") {
      const tag = String((e.params as { tag: string }).tag);
      const values = (
        (e.parentSchema?.oneOf ?? []) as { properties?: Record<string, { const?: unknown }> }[]
      ).map((b) => b.properties?.[tag]?.const);
      segments.push(tag);
      const given = (e.data as Record<string, unknown> | null)?.[tag];
      if (given === undefined) continue; // reported as a missing required field
      message = `must be one of ${values.map((v) => JSON.stringify(v)).join(", ")}${suggest(given, values)}`;
    }
    const path = segments.join(".");
    const key = `${path}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const where = whereOverride?.(segments) ?? locate(segments, pointAtKey);
    out.push({ where, path, message });
  }
  return out;
}

/** Validate once, then freeze: a loaded file's plan cannot be changed by accident. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
