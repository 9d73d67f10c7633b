/** Small helpers the benchmark scripts share: command-line numbers and order statistics. */

/** Prints a line for people, unless the script was asked for `--json` (one JSON line only). */
export function humanLog(args: readonly string[]): (line: string) => void {
  const json = args.includes("--json");
  return (line) => {
    if (!json) console.log(line);
  };
}

/** The value after `--name` on the command line as a number, or `fallback`. */
export function numberArg(args: readonly string[], name: string, fallback: number): number {
  return args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback;
}

/** The q-quantile by the lower rank convention: sorted[⌊q·n⌋], the last element for q = 1. */
export function quantile(xs: readonly number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

export const median = (xs: readonly number[]): number => quantile(xs, 0.5);
