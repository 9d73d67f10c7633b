/** Small helpers the benchmark scripts share: command-line numbers, order statistics, process CPU and memory, Prometheus histograms. */
import { readFileSync, writeFileSync } from "node:fs";

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

/** A process's CPU time so far (user + system, seconds) from /proc; NaN where there is none. */
export function cpuSeconds(pid: number | undefined): number {
  try {
    // The fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks: 100 a second on Linux
  } catch {
    return Number.NaN;
  }
}

/** A process's memory from /proc/<pid>/status, MB: RSS, its anonymous and file-backed parts, and its peak. */
export function memoryMb(pid: number) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) =>
    Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
  return { rss: kb("VmRSS"), anon: kb("RssAnon"), file: kb("RssFile"), peak: kb("VmHWM") };
}

/** Resets a process's peak RSS (VmHWM) to its RSS now (Linux, the process's owner or root). */
export const resetPeak = (pid: number) => writeFileSync(`/proc/${pid}/clear_refs`, "5");

/**
 * A Prometheus histogram from the text format: quantiles interpolated linearly within
 * their bucket (as PromQL's histogram_quantile), and the fraction at or under a bound.
 */
export function histogram(text: string, name: string) {
  const buckets: [number, number][] = [];
  for (const m of text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\d+)$`, "gm")))
    buckets.push([m[1] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[1]), Number(m[2])]);
  const total = buckets.at(-1)?.[1] ?? 0;
  return {
    quantile(q: number): number {
      const rank = q * total;
      let lower = 0;
      let below = 0;
      for (const [le, count] of buckets) {
        if (count >= rank) {
          if (!Number.isFinite(le)) return lower;
          return lower + ((le - lower) * (rank - below)) / Math.max(1, count - below);
        }
        lower = le;
        below = count;
      }
      return Number.NaN;
    },
    fractionWithin(bound: number): number {
      const b = buckets.find(([le]) => le === bound);
      return total === 0 || b === undefined ? Number.NaN : b[1] / total;
    },
  };
}
