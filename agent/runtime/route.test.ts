import { deepStrictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import { Priority } from "../../cloud-sync/outbox.js";
import type { OutputPlan } from "../compile/plan.js";
import type { AggregateResult, AlertResult, LateReading } from "../engine/types.js";
import { DEFAULT_OUTPUTS, type Result, route } from "./route.js";

const agg: AggregateResult = {
  kind: "agg",
  id: "a1",
  revision: 2,
  device: "d",
  rule: "per-minute",
  key: "pump-1/temp",
  start: 0,
  end: 60_000,
  partial: false,
  aggregates: { count: 3 },
};
const alert = {
  kind: "alert",
  id: "x1",
  revision: 0,
  device: "d",
  rule: "spikes",
  key: "pump-1/temp",
} as unknown as AlertResult;
const late = {
  kind: "late",
  id: "l1",
  revision: 0,
  device: "d",
  rule: "per-minute",
  key: "pump-1/temp",
} as unknown as LateReading;

/** The decision without the payload bytes, which are the result's JSON. */
function decided(out: Result, plan: OutputPlan) {
  const routed = route(out, plan, "d");
  for (const payload of [routed.record?.payload, routed.local?.payload])
    if (payload !== undefined) deepStrictEqual(JSON.parse(payload.toString()), out);
  return {
    record: routed.record === undefined ? undefined : { ...routed.record, payload: undefined },
    local: routed.local?.topic,
  };
}

describe("route: where a result goes", () => {
  it("by default: aggregates and late readings upstream only, alerts upstream and on the edge broker", () => {
    deepStrictEqual(decided(agg, DEFAULT_OUTPUTS), {
      record: {
        id: "a1",
        revision: 2,
        priority: Priority.aggregate,
        topic: "brook/d/agg/per-minute",
        payload: undefined,
      },
      local: undefined,
    });
    deepStrictEqual(decided(alert, DEFAULT_OUTPUTS), {
      record: {
        id: "x1",
        revision: 0,
        priority: Priority.alert,
        topic: "brook/d/alert/spikes",
        payload: undefined,
      },
      local: "brook/d/alert/spikes/pump-1/temp",
    });
    deepStrictEqual(decided(late, DEFAULT_OUTPUTS), {
      record: {
        id: "l1",
        revision: 0,
        priority: Priority.bulk,
        topic: "brook/d/late",
        payload: undefined,
      },
      local: undefined,
    });
  });

  it("a local topic template and a priority for the rule's aggregates; nothing upstream when it says so", () => {
    const plan: OutputPlan = {
      local: "hmi/{device}/{rule}/{key}/{kind}",
      localAlerts: undefined,
      upstream: false,
      priority: "bulk",
    };
    deepStrictEqual(decided(agg, plan), {
      record: undefined,
      local: "hmi/d/per-minute/pump-1/temp/agg",
    });
    deepStrictEqual(decided(alert, plan), { record: undefined, local: undefined });
    deepStrictEqual(decided(agg, { ...plan, upstream: true }).record?.priority, Priority.bulk);
  });
});
