/**
 * `brook bench`'s judgement of each step and its report: pure, so the rules of "sustained"
 * are tested without a broker. A step is sustained when the fleet published at (nearly)
 * its target rate and the agent took every reading it published — counted by the agent as
 * taken, none refused, none failed — within the drain time after the step.
 */

export interface StepFigures {
  /** the rate asked of the fleet, readings/s */
  target: number;
  /** readings the fleet's publishers reported sent */
  sent: number;
  /** the rate they achieved over the step */
  achieved: number;
  /** readings the agent took during the step and its drain */
  taken: number;
  /** readings refused (dead letters), whose processing failed, late for their window, or of keys evicted over the state budget */
  refused: number;
  /** the agent's CPU over the step, µs, and its RSS at its end (peak of the step), MB */
  cpuUs: number;
  rssMb: number;
  peakRssMb: number;
  /** results committed to the outbox during the step, per second */
  outboxPerSec: number;
  seconds: number;
  /**
   * the longest any publisher waited for the broker to take its messages (its socket full),
   * seconds; absent: not known
   */
  brokerWaitSeconds?: number;
}

export type Verdict =
  | "sustained"
  | "fell behind"
  | "refused readings"
  | "publisher limited"
  | "counted twice";

/** Below this share of the target, the fleet (not the agent) set the pace at QoS 0. */
export const ACHIEVED_SHARE = 0.95;
/**
 * ...unless a publisher waited this share of the step for the agent's broker to read its
 * messages: then the agent did not take them as fast as they came (TCP held the fleet back).
 */
export const BROKER_WAIT_SHARE = 0.05;

/**
 * A QoS 0 rate the publishers missed with every reading taken: their own limit, unless they
 * waited BROKER_WAIT_SHARE of the step (or more) for the broker to read what they sent.
 * (bench:e2e judges its systems by the same rule.)
 */
export function publisherLimited(brokerWaitSeconds: number, seconds: number): boolean {
  return brokerWaitSeconds < BROKER_WAIT_SHARE * seconds;
}

export function judge(step: StepFigures, qos: 0 | 1): Verdict {
  if (step.refused > 0) return "refused readings";
  // More taken than published: a reading matched more than one source and was counted
  // once for each, so losses could hide behind the surplus.
  if (step.taken > step.sent) return "counted twice";
  if (step.taken < step.sent) return "fell behind";
  // At QoS 1 the agent's acknowledgements pace the fleet: a slow agent shows as a low rate;
  // at QoS 0 its socket's buffers do, when the publishers waited for them.
  if (step.achieved < ACHIEVED_SHARE * step.target)
    return qos === 0 && publisherLimited(step.brokerWaitSeconds ?? 0, step.seconds)
      ? "publisher limited"
      : "fell behind";
  return "sustained";
}

export interface StepResult extends StepFigures {
  verdict: Verdict;
  cpuUsPerReading: number;
}

export function result(step: StepFigures, qos: 0 | 1): StepResult {
  return {
    ...step,
    verdict: judge(step, qos),
    cpuUsPerReading: step.taken > 0 ? step.cpuUs / step.taken : 0,
  };
}

export interface BenchSummary {
  sustainedPerSec: number;
  cpuUsPerReading: number;
  rssMb: number;
  peakRssMb: number;
  outboxPerSec: number;
  /** what ended the climb */
  limit: "agent" | "publisher" | "none: every rate tried was sustained";
  /** the last step's verdict, when it ended the climb */
  stoppedBy?: Verdict;
  /** at the expected rate: sustained ÷ expected */
  headroom?: number;
}

/** The highest sustained step's figures, and what stopped the climb. */
export function summarize(steps: readonly StepResult[], expect?: number): BenchSummary {
  const ok = steps.filter((s) => s.verdict === "sustained");
  const best = ok.reduce<StepResult | undefined>(
    (b, s) => (b === undefined || s.achieved > b.achieved ? s : b),
    undefined,
  );
  const last = steps.at(-1);
  const limit =
    last === undefined || last.verdict === "sustained"
      ? "none: every rate tried was sustained"
      : last.verdict === "publisher limited"
        ? "publisher"
        : "agent";
  const sustainedPerSec = best === undefined ? 0 : Math.round(best.achieved);
  return {
    sustainedPerSec,
    cpuUsPerReading: round1(best?.cpuUsPerReading ?? 0),
    rssMb: round1(best?.rssMb ?? 0),
    peakRssMb: round1(Math.max(0, ...steps.map((s) => s.peakRssMb))),
    outboxPerSec: Math.round(best?.outboxPerSec ?? 0),
    limit,
    ...(last !== undefined && last.verdict !== "sustained" ? { stoppedBy: last.verdict } : {}),
    ...(expect === undefined ? {} : { headroom: round1(sustainedPerSec / expect) }),
  };
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const int = (x: number) => Math.round(x).toLocaleString("en-US");

/** One line per step, for the progress and for the table at the end. */
export function stepLine(s: StepResult): string {
  return `${int(s.target).padStart(9)}/s  achieved ${int(s.achieved).padStart(9)}/s  taken ${int(s.taken).padStart(10)} of ${int(s.sent).padStart(10)}  CPU ${s.cpuUsPerReading.toFixed(1).padStart(5)} µs a reading  RSS ${s.rssMb.toFixed(0).padStart(4)} MB  outbox ${int(s.outboxPerSec).padStart(6)}/s  ${s.verdict}`;
}

/** The report's closing lines: the table's verdict and, with `--expect`, the headroom. */
export function verdictLines(summary: BenchSummary, expect?: number): string[] {
  const lines = [
    summary.sustainedPerSec > 0
      ? `sustained: ${int(summary.sustainedPerSec)} readings/s with nothing lost, at ${summary.cpuUsPerReading} µs of the agent's CPU a reading, RSS ${summary.rssMb} MB (peak ${summary.peakRssMb} MB); outbox ${int(summary.outboxPerSec)} results/s`
      : "sustained: no rate tried was sustained",
  ];
  if (summary.limit === "publisher")
    lines.push(
      "the fleet fell short of the next rate with nothing lost, without waiting for the agent to read its messages: the load generator sharing this machine's CPU was the limit; publish from another machine with brook sim to go higher",
    );
  else if (summary.stoppedBy === "refused readings")
    lines.push(
      "at the next rate the agent refused readings (dead letters, late readings or keys evicted over state.maxBytes): see /metrics of a real run, or give --sensors, --topic and --format that fit the rules",
    );
  else if (summary.stoppedBy === "counted twice")
    lines.push(
      "more readings were counted than published: more than one of the rules' sources matches the fleet's topic, so each reading counts once per source and losses cannot be told; give --topic matching one source",
    );
  else if (summary.limit === "agent") lines.push("the next rate was more than the agent took");
  else lines.push("every rate tried was sustained: try higher --rates");
  if (expect !== undefined && summary.headroom !== undefined)
    lines.push(
      summary.headroom >= 1
        ? `at the expected ${int(expect)} readings/s: ${summary.headroom}× headroom`
        : `at the expected ${int(expect)} readings/s: NOT sustained (the most sustained is ${summary.headroom}× of it)`,
    );
  return lines;
}
