/**
 * The NAB scorer is faithful: SCORING.md's worked example, and the shipped windowedGaussian
 * results scored at its published threshold give the published 39.65 / 20.87 / 47.41, file
 * by file, with the same row counts; the exhaustive sweep finds the same threshold.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  loadCorpus,
  loadPublishedScores,
  loadResultScores,
  NAB_DIR,
} from "../scripts/nab/corpus.js";
import {
  type Detected,
  optimise,
  PROFILE_NAMES,
  PROFILES,
  planRows,
  scaledSigmoid,
  scoreCorpus,
  scoreFile,
} from "../scripts/nab/scorer.js";

const close = (a: number, b: number, eps: number, what: string) =>
  ok(Math.abs(a - b) <= eps, `${what}: ${a} is not within ${eps} of ${b}`);

describe("NAB scorer", () => {
  it("the scaled sigmoid matches SCORING.md §6.1", () => {
    const table: [number, number][] = [
      [-1, 0.9866142981514305],
      [-0.5, 0.8482836399575131],
      [0, 0],
      [0.5, -0.8482836399575129],
      [1, -0.9866142981514303],
      [2, -0.9999092042625951],
      [3, -0.9999993881955461],
      [3.0001, -1],
    ];
    for (const [x, y] of table) close(scaledSigmoid(x), y, 1e-15, `σ(${x})`);
  });

  it("scores SCORING.md §6.3's worked example in all three profiles", () => {
    const plan = planRows({ name: "example", rows: 1000, windows: [[400, 499]] });
    const cases: [number[], number, number, number][] = [
      [[], -1, -1, -2],
      [[400], 1, 1, 1],
      [[450], 0.8597925669097837, 0.8597925669097837, 0.8597925669097837],
      [[499], 0.025333905068325228, 0.025333905068325228, 0.025333905068325228],
      [[500], -1.0027771874746165, -1.005554374949233, -2.0027771874746163],
      [[100], -1, -1, -2],
      [[200], -1.11, -1.22, -2.11],
      [[420, 430], 0.9771068409226045, 0.9771068409226045, 0.9771068409226045],
      [[400, 600], 0.8913318185334391, 0.7826636370668784, 0.8913318185334391],
      [[400, 800], 0.89, 0.78, 0.89],
    ];
    for (const [rows, ...expected] of cases) {
      const scores = new Float64Array(1000);
      for (const r of rows) scores[r] = 1;
      PROFILE_NAMES.forEach((p, i) => {
        close(
          scoreFile(plan, scores, 1, PROFILES[p]).score,
          expected[i] as number,
          1e-12,
          `${p}, detections at ${rows.join(", ") || "none"}`,
        );
      });
    }
  });

  const haveCorpus = existsSync(join(NAB_DIR, "labels", "combined_windows.json"));
  it("reproduces windowedGaussian's published scores from its shipped results", {
    skip: haveCorpus ? false : `no NAB corpus at ${NAB_DIR} (set BROOK_NAB_DIR)`,
  }, () => {
    const series = loadCorpus();
    deepStrictEqual([series.length, series.reduce((n, s) => n + s.windows.length, 0)], [58, 116]);
    const corpus: Detected[] = series.map((s) => ({
      plan: planRows(s),
      scores: loadResultScores(NAB_DIR, "windowedGaussian", s.name),
    }));
    const published = JSON.parse(readFileSync(join(NAB_DIR, "final_results.json"), "utf8"))
      .windowedGaussian as Record<string, number>;
    for (const profile of PROFILE_NAMES) {
      const at = scoreCorpus(corpus, 1.0, PROFILES[profile]);
      const files = loadPublishedScores(NAB_DIR, "windowedGaussian", profile);
      const totals = files.get("Totals");
      close(at.normalised, published[profile] as number, 1e-9, `${profile} NAB score`);
      close(at.score, totals?.score as number, 1e-9, `${profile} raw score`);
      deepStrictEqual([at.tp, at.tn, at.fp, at.fn], [521, 298_938, 409, 32_974]);
      for (const f of at.files) {
        const p = files.get(f.name);
        close(f.score, p?.score as number, 1e-9, `${profile} ${f.name}`);
        deepStrictEqual([f.tp, f.tn, f.fp, f.fn], [p?.tp, p?.tn, p?.fp, p?.fn], f.name);
      }
      const best = optimise(corpus, PROFILES[profile]);
      deepStrictEqual(best.threshold, 1.0, `${profile}: the exhaustive optimum is θ = 1.0`);
      close(best.normalised, published[profile] as number, 1e-9, `${profile} optimised`);
    }
  });
});
