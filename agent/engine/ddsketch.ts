/**
 * DDSketch (Masson, Rim, Lee, VLDB 2019): a quantile sketch with a relative-error
 * guarantee. Any quantile it returns is within ±ALPHA (1 %) of the true value of that
 * rank, for |value| ≥ MIN_INDEXABLE, as long as the values of one sign span less than
 * GAMMA^MAX_BINS (≈ e^40, i.e. 17 orders of magnitude); beyond that the lowest buckets
 * are collapsed and only the lowest quantiles lose accuracy. Mergeable: bucket counts add.
 *
 * Buckets are dense: a Float64Array of counts from index `offset`, so the sketch costs
 * 8 bytes per bucket spanned (a sensor ranging over 20..30 spans ~20 buckets).
 */
export const ALPHA = 0.01;
const GAMMA = (1 + ALPHA) / (1 - ALPHA);
const LOG_GAMMA = Math.log(GAMMA);
export const MIN_INDEXABLE = 1e-9;
const MAX_BINS = 2048;
const INITIAL_BINS = 16;

class DenseStore {
  counts = new Float64Array(0);
  offset = 0;
  total = 0;

  add(index: number, weight: number): void {
    this.ensure(index);
    const i = Math.max(0, index - this.offset);
    this.counts[i] = (this.counts[i] as number) + weight;
    this.total += weight;
  }

  private ensure(index: number): void {
    const old = this.counts;
    if (old.length === 0) {
      this.counts = new Float64Array(INITIAL_BINS);
      this.offset = index - (INITIAL_BINS >> 1);
      return;
    }
    if (index >= this.offset && index < this.offset + old.length) return;
    if (index < this.offset && old.length >= MAX_BINS) return; // collapsed into bucket 0
    const lo = Math.min(index, this.offset);
    const hi = Math.max(index, this.offset + old.length - 1);
    const size = Math.min(MAX_BINS, Math.max(hi - lo + 1, old.length * 2));
    // Leave the spare room on the side that grew; past MAX_BINS the lowest buckets collapse.
    const newOffset = index < this.offset ? hi - size + 1 : Math.max(lo, hi - size + 1);
    const grown = new Float64Array(size);
    for (let i = 0; i < old.length; i++) {
      const c = old[i] as number;
      if (c === 0) continue;
      const target = Math.max(0, this.offset + i - newOffset);
      grown[target] = (grown[target] as number) + c;
    }
    this.counts = grown;
    this.offset = newOffset;
  }

  /** Index of the bucket holding the rank-th value (0-based) counting from the lowest index. */
  indexAtRank(rank: number, fromTop: boolean): number {
    let seen = 0;
    const c = this.counts;
    if (!fromTop) {
      for (let i = 0; i < c.length; i++) {
        seen += c[i] as number;
        if (seen > rank) return i + this.offset;
      }
      return c.length - 1 + this.offset;
    }
    for (let i = c.length - 1; i >= 0; i--) {
      seen += c[i] as number;
      if (seen > rank) return i + this.offset;
    }
    return this.offset;
  }

  /** Adds (sign 1) or removes (sign −1) every count of `other`. */
  mergeFrom(other: DenseStore, sign = 1): void {
    const c = other.counts;
    for (let i = 0; i < c.length; i++) {
      const n = c[i] as number;
      if (n !== 0) this.add(i + other.offset, sign * n);
    }
  }

  clear(): void {
    this.counts.fill(0);
    this.total = 0;
  }
}

export class DDSketch {
  private readonly positive = new DenseStore();
  private readonly negative = new DenseStore();
  private zeros = 0;

  get count(): number {
    return this.positive.total + this.negative.total + this.zeros;
  }

  add(value: number): void {
    if (value > MIN_INDEXABLE) this.positive.add(Math.ceil(Math.log(value) / LOG_GAMMA), 1);
    else if (value < -MIN_INDEXABLE) this.negative.add(Math.ceil(Math.log(-value) / LOG_GAMMA), 1);
    else this.zeros++;
  }

  merge(other: DDSketch): void {
    this.positive.mergeFrom(other.positive);
    this.negative.mergeFrom(other.negative);
    this.zeros += other.zeros;
  }

  /** Removes the values of `other`, which must have been merged or added into this sketch. */
  subtract(other: DDSketch): void {
    this.positive.mergeFrom(other.positive, -1);
    this.negative.mergeFrom(other.negative, -1);
    this.zeros -= other.zeros;
  }

  clear(): void {
    this.positive.clear();
    this.negative.clear();
    this.zeros = 0;
  }

  /** The q-quantile (0 ≤ q ≤ 1) by the lower rank convention ⌊q·(n−1)⌋; NaN when empty. */
  quantile(q: number): number {
    const n = this.count;
    if (n === 0) return Number.NaN;
    const rank = Math.floor(q * (n - 1));
    const negatives = this.negative.total;
    if (rank < negatives) {
      // Most negative first: the highest |value| index of the negative store.
      return -bucketValue(this.negative.indexAtRank(rank, true));
    }
    if (rank < negatives + this.zeros) return 0;
    return bucketValue(this.positive.indexAtRank(rank - negatives - this.zeros, false));
  }

  /** Bytes of state, for the engine's memory accounting. */
  bytes(): number {
    return 64 + this.positive.counts.byteLength + this.negative.counts.byteLength;
  }

  /** A compact, structured-cloneable form for checkpoints. */
  toJSON(): SketchSnapshot {
    return [
      this.positive.offset,
      this.positive.counts,
      this.negative.offset,
      this.negative.counts,
      this.zeros,
    ];
  }

  static from(s: SketchSnapshot): DDSketch {
    const sketch = new DDSketch();
    const [po, pc, no, nc, zeros] = s;
    sketch.positive.offset = po;
    sketch.positive.counts = Float64Array.from(pc);
    sketch.positive.total = sketch.positive.counts.reduce((a, b) => a + b, 0);
    sketch.negative.offset = no;
    sketch.negative.counts = Float64Array.from(nc);
    sketch.negative.total = sketch.negative.counts.reduce((a, b) => a + b, 0);
    sketch.zeros = zeros;
    return sketch;
  }
}

export type SketchSnapshot = [
  number,
  Float64Array | number[],
  number,
  Float64Array | number[],
  number,
];

function bucketValue(index: number): number {
  return (2 * GAMMA ** index) / (GAMMA + 1);
}
