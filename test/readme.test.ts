/** The README's annotated config example must be a valid config (docs match behaviour). */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseRules } from "../agent/compile/load.js";
import { parseConfig } from "../agent/config/load.js";
import { formatProblem } from "../rules/validate-yaml.js";
import { parseScenario } from "../simulators/scenario.js";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
const yamlBlocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);

describe("README", () => {
  it("shows a config example that validates, with every documented default", () => {
    const dir = mkdtempSync(join(tmpdir(), "brook-readme-"));
    for (const f of ["ca.pem", "client.pem", "client.key", "passwd"])
      writeFileSync(join(dir, f), "");
    writeFileSync(join(dir, "rules.yaml"), "rules:\n  - name: r\n");
    const example = yamlBlocks.find((b) => b.includes("uplink:")) as string;
    const config = parseConfig(
      join(dir, "config.yaml"),
      example.replaceAll("/etc/brook/", `${dir}/`),
    );
    strictEqual(config.device, "pi-greenhouse-01");
    strictEqual(config.rulesFile, join(dir, "rules.yaml"));
    strictEqual(config.uplink?.tls?.rejectUnauthorized, true);
  });

  it("shows a rules example that validates", () => {
    const example = yamlBlocks.find((b) => b.startsWith("rules:")) as string;
    strictEqual(parseRules("README.md", example).ok, true);
  });

  it("and docs/RULES.md shows rules files that validate", () => {
    const docs = readFileSync(new URL("../docs/RULES.md", import.meta.url), "utf8");
    const files = [...docs.matchAll(/```yaml\n([\s\S]*?)```/g)]
      .map((m) => m[1] as string)
      .filter((b) => /^(sources|rules):/m.test(b) && !b.includes("source: plnt")); // the broken sample
    ok(files.length > 0);
    for (const f of files) {
      const result = parseRules("docs/RULES.md", f);
      deepStrictEqual(result.ok ? [] : result.problems.map(formatProblem), []);
    }
  });

  it("and docs/SIMULATORS.md shows a scenario and a rules file that validate", () => {
    const docs = readFileSync(new URL("../docs/SIMULATORS.md", import.meta.url), "utf8");
    const blocks = [...docs.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
    const scenario = blocks.find((b) => b.startsWith("name:")) as string;
    const loaded = parseScenario("docs/SIMULATORS.md", scenario, {}, 0);
    deepStrictEqual(loaded.ok ? [] : loaded.problems.map(formatProblem), []);
    const rules = blocks.find((b) => b.startsWith("rules:")) as string;
    const result = parseRules("docs/SIMULATORS.md", rules);
    deepStrictEqual(result.ok ? [] : result.problems.map(formatProblem), []);
  });

  it("and docs/RULES.md shows what `brook rules check` prints for its broken file", () => {
    const docs = readFileSync(new URL("../docs/RULES.md", import.meta.url), "utf8");
    const broken = /```yaml\n([^`]*?)```\n\n```\n\$ brook rules check broken\.yaml/.exec(
      docs,
    )?.[1] as string;
    const shown = docs
      .split("\n")
      .filter((l) => l.startsWith("broken.yaml:"))
      .join("\n");
    const result = parseRules("broken.yaml", broken);
    deepStrictEqual(result.ok ? "" : result.problems.map(formatProblem).join("\n"), shown);
  });
});
