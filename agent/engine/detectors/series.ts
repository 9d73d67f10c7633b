/**
 * Fabricated series for the detector tests: one reading a second, a steady signal with a
 * fixed, repeating wiggle (no randomness), and one kind of trouble starting at reading 200.
 */
export const START = 200;
export const LENGTH = 400;

/** Reproducible noise in [−0.5, 0.5): a fixed-seed mulberry32 sequence, one value per reading. */
export const NOISE: readonly number[] = (() => {
  let a = 20261121;
  return Array.from({ length: LENGTH }, () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  });
})();
const wiggle = (i: number): number => NOISE[i] as number;

export type Shape = "spike" | "dip" | "level shift" | "drift" | "flatline" | "silence";

/** The value of reading i, or undefined where the sensor says nothing. */
export function valueAt(shape: Shape, i: number): number | undefined {
  const base = 10 + wiggle(i);
  switch (shape) {
    case "spike":
      return i === START ? 20 : base;
    case "dip":
      return i === START ? 0 : base;
    case "level shift":
      return i >= START ? base + 5 : base;
    case "drift":
      return i >= START ? base + (i - START) * 0.05 : base;
    case "flatline":
      return i >= START && i < START + 60 ? 10 : base;
    case "silence":
      return i >= START && i < START + 60 ? undefined : base;
  }
}
