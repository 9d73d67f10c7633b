/**
 * The Numenta Anomaly Benchmark's scoring, written from ../shared/nab/SCORING.md (NAB v1.1):
 * anomaly windows in rows, a probationary period of min(15 %, 750) rows, the scaled sigmoid,
 * only the first detection per window counting, three cost profiles, one corpus-wide
 * threshold found by an exhaustive descending sweep (ties to the highest), and
 * normalisation against the null and perfect detectors. Pure: data in, numbers out.
 */

export interface Profile {
  readonly tp: number;
  readonly fp: number;
  readonly fn: number;
}

export const PROFILES = {
  standard: { tp: 1, fp: 0.11, fn: 1 },
  reward_low_FP_rate: { tp: 1, fp: 0.22, fn: 1 },
  reward_low_FN_rate: { tp: 1, fp: 0.11, fn: 2 },
} as const satisfies Record<string, Profile>;
export type ProfileName = keyof typeof PROFILES;
export const PROFILE_NAMES = Object.keys(PROFILES) as ProfileName[];

/** "No detections": above every score in [0, 1]. */
export const NO_DETECTIONS = 1.1;

/** σ(x) = 2 / (1 + e^(5x)) − 1, and −1 beyond x = 3 (SCORING.md §6.1). */
export function scaledSigmoid(x: number): number {
  return x > 3 ? -1 : 2 / (1 + Math.exp(5 * x)) - 1;
}
const MAX_TP = scaledSigmoid(-1);

/** One data file: its length and its anomaly windows as inclusive row ranges. */
export interface LabelledFile {
  readonly name: string;
  readonly rows: number;
  readonly windows: readonly (readonly [first: number, last: number])[];
}

export function probationRows(rows: number): number {
  return Math.min(Math.floor(0.15 * rows), 750);
}

/**
 * Everything about a file's rows that does not depend on the threshold: for each scored
 * row, its window (or −1) and its unweighted value — a fraction of A_TP inside a window,
 * a (negative) fraction of A_FP outside.
 */
export interface RowPlan {
  readonly file: LabelledFile;
  readonly probation: number;
  /** per row: index of the window it lies in, −1 outside every window */
  readonly window: Int32Array;
  /** per row: σ(x)/MAX_TP inside a window, the FP factor (−1 … ~0) outside */
  readonly unit: Float64Array;
}

export function planRows(file: LabelledFile): RowPlan {
  const n = file.rows;
  const window = new Int32Array(n).fill(-1);
  const unit = new Float64Array(n);
  file.windows.forEach(([l, r], w) => {
    for (let i = l; i <= r; i++) window[i] = w;
  });
  let lastEnded = -1; // index of the most recent window that ended before row i
  for (let i = 0; i < n; i++) {
    const w = window[i] as number;
    if (w >= 0) {
      const [l, r] = file.windows[w] as readonly [number, number];
      unit[i] = scaledSigmoid(-(r - i + 1) / (r - l + 1)) / MAX_TP;
      continue;
    }
    while (
      lastEnded + 1 < file.windows.length &&
      (file.windows[lastEnded + 1] as readonly [number, number])[1] < i
    )
      lastEnded++;
    if (lastEnded < 0) {
      unit[i] = -1;
    } else {
      const [l, r] = file.windows[lastEnded] as readonly [number, number];
      unit[i] = scaledSigmoid((i - r) / (r - l));
    }
  }
  return { file, probation: probationRows(n), window, unit };
}

export interface Counts {
  tp: number;
  tn: number;
  fp: number;
  fn: number;
}

export interface FileScore extends Counts {
  name: string;
  score: number;
}

/** One file's raw score and row counts at threshold θ (a row is detected when score ≥ θ). */
export function scoreFile(
  plan: RowPlan,
  scores: ArrayLike<number>,
  theta: number,
  profile: Profile,
): FileScore {
  const terms = new Float64Array(plan.file.windows.length).fill(-profile.fn);
  let fpSum = 0;
  const counts: Counts = { tp: 0, tn: 0, fp: 0, fn: 0 };
  for (let i = plan.probation; i < plan.file.rows; i++) {
    const detected = (scores[i] as number) >= theta;
    const w = plan.window[i] as number;
    if (w >= 0) {
      if (detected) {
        counts.tp++;
        terms[w] = Math.max(terms[w] as number, profile.tp * (plan.unit[i] as number));
      } else counts.fn++;
    } else if (detected) {
      counts.fp++;
      fpSum += profile.fp * (plan.unit[i] as number);
    } else counts.tn++;
  }
  let score = fpSum;
  for (const t of terms) score += t;
  return { name: plan.file.name, score, ...counts };
}

export interface CorpusScore extends Counts {
  threshold: number;
  /** raw: the sum of the files' scores */
  score: number;
  /** 0 for the null detector, 100 for the perfect one */
  normalised: number;
  files: FileScore[];
}

/** Normalises a raw corpus score against the null (−A_FN per window) and perfect (+A_TP per window) detectors. */
export function normalise(raw: number, profile: Profile, windows: number): number {
  const nullScore = -profile.fn * windows;
  const perfect = profile.tp * windows;
  return (100 * (raw - nullScore)) / (perfect - nullScore);
}

export interface Detected {
  readonly plan: RowPlan;
  readonly scores: ArrayLike<number>;
}

/** The corpus at one threshold. */
export function scoreCorpus(
  corpus: readonly Detected[],
  theta: number,
  profile: Profile,
): CorpusScore {
  const files = corpus.map((d) => scoreFile(d.plan, d.scores, theta, profile));
  const total: Counts = { tp: 0, tn: 0, fp: 0, fn: 0 };
  let score = 0;
  for (const f of files) {
    score += f.score;
    total.tp += f.tp;
    total.tn += f.tn;
    total.fp += f.fp;
    total.fn += f.fn;
  }
  const windows = corpus.reduce((n, d) => n + d.plan.file.windows.length, 0);
  return {
    threshold: theta,
    score,
    normalised: normalise(score, profile, windows),
    files,
    ...total,
  };
}

/**
 * The threshold that maximises the corpus score (SCORING.md §7): an exhaustive sweep down
 * through every distinct score of a scored row, adding one group of equal scores at a
 * time; ties go to the highest threshold. Returns the corpus scored at it.
 */
export function optimise(corpus: readonly Detected[], profile: Profile): CorpusScore {
  let rows = 0;
  for (const d of corpus) rows += d.plan.file.rows - d.plan.probation;
  const score = new Float64Array(rows);
  const value = new Float64Array(rows);
  const windowOf = new Int32Array(rows); // global window index, −1 outside
  let at = 0;
  let windowBase = 0;
  for (const d of corpus) {
    const { plan } = d;
    for (let i = plan.probation; i < plan.file.rows; i++, at++) {
      score[at] = d.scores[i] as number;
      const w = plan.window[i] as number;
      windowOf[at] = w < 0 ? -1 : windowBase + w;
      value[at] = (w < 0 ? profile.fp : profile.tp) * (plan.unit[i] as number);
    }
    windowBase += plan.file.windows.length;
  }
  const order = Uint32Array.from({ length: rows }, (_, i) => i).sort(
    (a, b) => (score[b] as number) - (score[a] as number),
  );
  const terms = new Float64Array(windowBase).fill(-profile.fn);
  let total = -profile.fn * windowBase;
  let best = { theta: NO_DETECTIONS, total };
  for (let k = 0; k < rows; ) {
    const theta = score[order[k] as number] as number;
    for (; k < rows && score[order[k] as number] === theta; k++) {
      const r = order[k] as number;
      const w = windowOf[r] as number;
      if (w < 0) {
        total += value[r] as number;
      } else if ((value[r] as number) > (terms[w] as number)) {
        total += (value[r] as number) - (terms[w] as number);
        terms[w] = value[r] as number;
      }
    }
    if (total > best.total) best = { theta, total };
  }
  return scoreCorpus(corpus, best.theta, profile);
}
