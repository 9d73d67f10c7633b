/**
 * Where one result goes, decided from its rule's output plan: an outbox record (upstream,
 * with its topic and priority), a publish on the edge broker (a local topic), both or
 * neither. Pure: the pipeline applies the decision.
 */
import { type OutboxRecord, Priority } from "../../cloud-sync/outbox.js";
import { DEFAULT_ALERT_TOPIC } from "../../rules/defaults.js";
import { expandOutputTopic } from "../../rules/topic.js";
import type { OutputPlan } from "../compile/plan.js";
import type { EngineOutput } from "../engine/types.js";

/** An engine output that is a result (not a dead letter). */
export type Result = Exclude<EngineOutput, { kind: "dead" }>;

export interface Routed {
  /** for the outbox; undefined when the rule sends nothing upstream */
  readonly record: OutboxRecord | undefined;
  /** a publish on the edge broker; undefined when the rule publishes nothing locally */
  readonly local: { readonly topic: string; readonly payload: Buffer } | undefined;
}

/** A rule's outputs when it names none (rules saved by an older version carry none). */
export const DEFAULT_OUTPUTS: OutputPlan = Object.freeze({
  local: undefined,
  localAlerts: DEFAULT_ALERT_TOPIC,
  upstream: true,
  priority: "aggregate",
});

export function route(out: Result, plan: OutputPlan, device: string): Routed {
  const payload = Buffer.from(JSON.stringify(out));
  const template = out.kind === "alert" ? plan.localAlerts : plan.local;
  const local =
    template === undefined
      ? undefined
      : {
          topic: expandOutputTopic(template, {
            device,
            rule: out.rule,
            key: out.key,
            kind: out.kind,
          }),
          payload,
        };
  if (!plan.upstream) return { record: undefined, local };
  const upstream =
    out.kind === "agg"
      ? { priority: Priority[plan.priority], topic: `brook/${device}/agg/${out.rule}` }
      : out.kind === "alert"
        ? { priority: Priority.alert, topic: `brook/${device}/alert/${out.rule}` }
        : { priority: Priority.bulk, topic: `brook/${device}/late` };
  return {
    record: { id: out.id, revision: out.revision, ...upstream, payload },
    local,
  };
}
