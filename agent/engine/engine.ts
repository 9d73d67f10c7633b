/** Routes each reading to the rules whose sensor glob matches it. Pure. */
import { type CompiledRule, DEFAULT_AGGREGATES } from "../../rules/load.js";
import { type KeySnapshot, TumblingWindows } from "./tumbling.js";
import type { EngineOutput, Reading } from "./types.js";

interface RulePlan {
  rule: CompiledRule;
  matches: (sensor: string) => boolean;
  windows: TumblingWindows;
}

export interface EngineSnapshot {
  version: 1;
  rules: { name: string; windowMs: number; keys: KeySnapshot[] }[];
}

/** How an orphaned rule's windows are finished when nothing else is known of it. */
const ORPHAN_DEFAULTS: CompiledRule = {
  name: "",
  sensors: "*",
  windowMs: 0,
  allowedLatenessMs: 0,
  aggregates: DEFAULT_AGGREGATES,
};

export class Engine {
  private readonly plans: RulePlan[];

  constructor(
    private readonly device: string,
    rules: readonly CompiledRule[],
  ) {
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

  /**
   * Engine state for a restart. A rule's state is tied to its name and window size: after
   * a change of either it cannot resume and is emitted instead (see `restore`).
   */
  snapshot(): EngineSnapshot {
    return {
      version: 1,
      rules: this.plans.map((p) => ({
        name: p.rule.name,
        windowMs: p.rule.windowMs,
        keys: p.windows.snapshot(),
      })),
    };
  }

  /**
   * Resumes from a snapshot. State of a rule that no longer exists (or whose window size
   * changed) cannot resume; its open windows are emitted as partial results into `out`
   * rather than lost.
   */
  restore(snapshot: EngineSnapshot, out: EngineOutput[]): void {
    for (const saved of snapshot.rules) {
      const plan = this.plans.find(
        (p) => p.rule.name === saved.name && p.rule.windowMs === saved.windowMs,
      );
      if (plan !== undefined) {
        plan.windows.restore(saved.keys);
        continue;
      }
      const orphan = new TumblingWindows(this.device, {
        ...(this.ruleFor(saved.name) ?? ORPHAN_DEFAULTS),
        name: saved.name,
        windowMs: saved.windowMs,
      });
      orphan.restore(saved.keys);
      orphan.flushAll(out);
    }
  }

  private ruleFor(name: string): CompiledRule | undefined {
    return this.plans.find((p) => p.rule.name === name)?.rule;
  }

  ruleNames(): string[] {
    return this.plans.map((p) => p.rule.name);
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
