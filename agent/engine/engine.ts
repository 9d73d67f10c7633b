/** Routes each reading to the rules whose sensor glob matches it. Pure. */
import type { CompiledRule } from "../../rules/load.js";
import { TumblingWindows } from "./tumbling.js";
import type { EngineOutput, Reading } from "./types.js";

interface RulePlan {
  rule: CompiledRule;
  matches: (sensor: string) => boolean;
  windows: TumblingWindows;
}

export class Engine {
  private readonly plans: RulePlan[];

  constructor(device: string, rules: readonly CompiledRule[]) {
    this.plans = rules.map((rule) => ({
      rule,
      matches: globMatcher(rule.sensors),
      windows: new TumblingWindows(device, rule),
    }));
  }

  process(reading: Reading, out: EngineOutput[]): void {
    for (const plan of this.plans) if (plan.matches(reading.sensor)) plan.windows.add(reading, out);
  }

  flushAll(out: EngineOutput[]): void {
    for (const plan of this.plans) plan.windows.flushAll(out);
  }

  openWindows(): number {
    let n = 0;
    for (const plan of this.plans) n += plan.windows.openWindows();
    return n;
  }
}

/** `*` matches any run of characters (including '/'), `?` one character. */
export function globMatcher(glob: string): (sensor: string) => boolean {
  if (glob === "*") return () => true;
  const source = glob
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  const re = new RegExp(`^${source}$`);
  return (sensor) => re.test(sensor);
}
