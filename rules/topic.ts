/** MQTT topic filters and the output-topic templates of rules files. */
import { parsedOnce } from "./memo.js";

/** Why `filter` is not a valid MQTT topic filter, or undefined when it is. */
export function topicFilterProblem(filter: string): string | undefined {
  const levels = filter.split("/");
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] as string;
    if (level.includes("#") && (level !== "#" || i !== levels.length - 1))
      return "'#' must be a whole level, and the last";
    if (level.includes("+") && level !== "+") return "'+' must be a whole level";
  }
  return undefined;
}

/** Whether `topic` matches the MQTT topic filter `filter` (`+` one level, `#` the rest). */
export function topicMatches(filter: string, topic: string): boolean {
  return levelsMatch(filter, topic, noLevel);
}

const noLevel = (_level: string) => false;

/**
 * The matching of filter levels against topic levels; a topic level for which `anything`
 * holds matches any level. It runs for every message and source, so the topic is walked in
 * place rather than split, and each filter is split once.
 */
function levelsMatch(filter: string, topic: string, anything: (level: string) => boolean): boolean {
  return matchLevels(filterLevels(filter), topic, anything);
}

function matchLevels(
  f: readonly string[],
  topic: string,
  anything: (level: string) => boolean,
): boolean {
  let start = 0; // of the topic's next level; past its end once every level is used
  for (const want of f) {
    if (want === "#") return true;
    if (start > topic.length) return false;
    let end = topic.indexOf("/", start);
    if (end === -1) end = topic.length;
    const same = end - start === want.length && topic.startsWith(want, start);
    if (want !== "+" && !same && !anything(topic.slice(start, end))) return false;
    start = end + 1;
  }
  return start > topic.length;
}

const filterLevels = parsedOnce((filter): readonly string[] => filter.split("/"));

/**
 * `topicMatches` for one filter, compiled once into a regular expression: for what runs on
 * every message (a source's filter). `+` is one level, possibly empty; a last `#` is the
 * parent level and everything below it.
 */
export function topicMatcher(filter: string): (topic: string) => boolean {
  const levels = filter.split("/");
  const hash = levels[levels.length - 1] === "#";
  if (hash) levels.pop();
  const body = levels
    .map((l) => (l === "+" ? "[^/]*" : l.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  const re = new RegExp(hash ? (levels.length === 0 ? "^" : `^${body}(?:/|$)`) : `^${body}$`, "s");
  return (topic) => re.test(topic);
}

/** The placeholders an output topic template may use. */
export const OUTPUT_PLACEHOLDERS = ["device", "rule", "key", "kind"] as const;
export type OutputVars = Record<(typeof OUTPUT_PLACEHOLDERS)[number], string>;

const PLACEHOLDER = /\{([^{}]*)\}/g;

/** Why `template` is not a valid output topic template, or undefined when it is. */
export function outputTopicProblem(template: string): string | undefined {
  for (const [, name] of template.matchAll(PLACEHOLDER)) {
    if (!(OUTPUT_PLACEHOLDERS as readonly string[]).includes(name as string))
      return `unknown placeholder {${name}} (use ${OUTPUT_PLACEHOLDERS.map((p) => `{${p}}`).join(", ")})`;
  }
  const rest = template.replace(PLACEHOLDER, "x");
  if (rest.includes("{") || rest.includes("}")) return "unbalanced '{' or '}'";
  if (rest.includes("+") || rest.includes("#"))
    return "a topic to publish on cannot hold the wildcards '+' or '#'";
  if (rest.startsWith("$")) return "topics starting with '$' are reserved for the broker";
  if (rest.startsWith("brook-internal/")) return "topics under brook-internal/ are the agent's own";
  return undefined;
}

/**
 * Fills in a template. Values cannot add wildcards: '+' and '#' in them become '_'. A key
 * may hold '/' (sensor ids often do) and so spans several topic levels.
 */
export function expandOutputTopic(template: string, vars: OutputVars): string {
  return template.replace(PLACEHOLDER, (_, name: string) =>
    vars[name as keyof OutputVars].replace(/[+#]/g, "_"),
  );
}

/**
 * Whether some result published at `template` could match the topic filter `filter` (and
 * so come back in as a reading). A level holding a placeholder could be anything, and
 * {key} may span any number of levels (sensor ids often hold '/'): every number up to the
 * filter's own is tried, as a longer topic cannot match it (a '#' matches at one).
 */
export function templateMayMatch(filter: string, template: string): boolean {
  const ANY = "\u0000";
  const holdsPlaceholder = (level: string) => level.includes(ANY);
  const levels = filterLevels(filter).length;
  for (let keyLevels = 1; keyLevels <= levels; keyLevels++) {
    const topic = template.replace(PLACEHOLDER, (_, name: string) =>
      name === "key" ? Array(keyLevels).fill(ANY).join("/") : ANY,
    );
    if (levelsMatch(filter, topic, holdsPlaceholder)) return true;
  }
  return false;
}
