/**
 * Reads the NAB corpus (../shared/nab by default, or BROOK_NAB_DIR): the 58 data files,
 * their anomaly windows mapped to row indices, and a detector's published per-row scores.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { LabelledFile } from "./scorer.js";

export const NAB_DIR =
  process.env.BROOK_NAB_DIR ??
  resolve(fileURLToPath(new URL("../../", import.meta.url)), "../shared/nab");

export interface NabSeries extends LabelledFile {
  /** `<category>/<file>.csv` */
  readonly name: string;
  readonly timestamps: readonly string[];
  readonly values: Float64Array;
}

/** Every data file, in name order, with its windows as inclusive row ranges. */
export function loadCorpus(dir = NAB_DIR): NabSeries[] {
  const windows = JSON.parse(
    readFileSync(join(dir, "labels", "combined_windows.json"), "utf8"),
  ) as Record<string, [string, string][]>;
  const out: NabSeries[] = [];
  for (const category of readdirSync(join(dir, "data")).sort()) {
    for (const file of readdirSync(join(dir, "data", category)).sort()) {
      if (!file.endsWith(".csv")) continue;
      const name = `${category}/${file}`;
      const rows = readCsv(join(dir, "data", category, file));
      const timestamps = rows.map((r) => r[0] as string);
      const firstRow = new Map<string, number>();
      timestamps.forEach((t, i) => {
        if (!firstRow.has(t)) firstRow.set(t, i);
      });
      const rowOf = (t: string) => {
        const i = firstRow.get(t.slice(0, 19));
        if (i === undefined) throw new Error(`${name}: no row at window boundary ${t}`);
        return i;
      };
      out.push({
        name,
        rows: rows.length,
        timestamps,
        values: Float64Array.from(rows, (r) => Number(r[1])),
        windows: (windows[name] ?? []).map(([a, b]) => [rowOf(a), rowOf(b)] as const),
      });
    }
  }
  return out;
}

/** A detector's per-row `anomaly_score` for one data file, from NAB's results layout. */
export function loadResultScores(dir: string, detector: string, name: string): Float64Array {
  const [category, file] = name.split("/") as [string, string];
  const rows = readCsv(join(dir, "results", detector, category, `${detector}_${file}`));
  return Float64Array.from(rows, (r) => Number(r[2]));
}

/** The data lines of a CSV without quoting (NAB's files have none), header dropped. */
function readCsv(path: string): string[][] {
  const lines = readFileSync(path, "utf8").split("\n");
  const out: string[][] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line !== "") out.push(line.split(","));
  }
  return out;
}

/** One row of a published `*_scores.csv`. */
export interface PublishedScore {
  threshold: number;
  score: number;
  tp: number;
  tn: number;
  fp: number;
  fn: number;
}

/** The published per-file scores and counts of a detector and profile (`*_scores.csv`), and its `Totals`. */
export function loadPublishedScores(
  dir: string,
  detector: string,
  profile: string,
): Map<string, PublishedScore> {
  const rows = readCsv(join(dir, "results", detector, `${detector}_${profile}_scores.csv`));
  const out = new Map<string, PublishedScore>();
  for (const r of rows) {
    const [, , file, threshold, score, tp, tn, fp, fn] = r;
    out.set(r[0] === "Totals" ? "Totals" : (file as string), {
      threshold: Number(threshold),
      score: Number(score),
      tp: Number(tp),
      tn: Number(tn),
      fp: Number(fp),
      fn: Number(fn),
    });
  }
  return out;
}
