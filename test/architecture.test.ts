/**
 * Imports point one way (docs/ARCHITECTURE.md "Folders, and what each may import"): every
 * production file's relative imports, read as text, checked against its folder's allowance.
 */
import { deepStrictEqual } from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

function files(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === "testing" ? [] : files(path);
    return /\.ts$/.test(e.name) && !/\.(test|bench)\.ts$/.test(e.name) ? [path] : [];
  });
}

/** The repository paths a file imports (relative imports only), without the extension. */
function imports(file: string): string[] {
  const text = readFileSync(join(root, file), "utf8");
  return [...text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)].map((m) =>
    relative(root, resolve(root, dirname(file), m[1] as string)).replace(/\.(js|ts)$/, ""),
  );
}

/** What files under a folder may import, beside their own folder. */
const ALLOWED: [folder: string, may: string[]][] = [
  ["lib/", []],
  ["rules/", ["lib/"]],
  ["cloud-sync/", ["lib/"]],
  ["simulators/", ["rules/", "lib/"]],
  ["agent/engine/", ["agent/compile/plan"]],
  ["agent/compile/", ["rules/", "lib/", "agent/errors"]],
  ["agent/live/", ["agent/engine/types", "agent/runtime/"]],
];

describe("architecture: imports point one way", () => {
  for (const [folder, may] of ALLOWED) {
    it(`${folder} imports only ${may.length === 0 ? "itself" : may.join(", ")}`, () => {
      const wrong = files(folder).flatMap((file) =>
        imports(file)
          .filter((to) => !to.startsWith(folder) && !may.some((m) => to.startsWith(m)))
          .map((to) => `${file} → ${to}`),
      );
      deepStrictEqual(wrong, []);
    });
  }
});
