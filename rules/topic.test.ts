import { deepStrictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { expandOutputTopic, templateMayMatch, topicMatcher, topicMatches } from "./topic.js";

describe("topics", () => {
  it("match filters level by level", () => {
    deepStrictEqual(
      [
        topicMatches("a/+/c", "a/b/c"),
        topicMatches("a/#", "a/b/c"),
        topicMatches("a/#", "a"),
        topicMatches("a/+", "a/b/c"),
        topicMatches("+/b", "a/c"),
      ],
      [true, true, true, false, false],
    );
  });

  it("match as comparing the split levels would, for any filter and topic", () => {
    const matchesBySplitting = (filter: string, topic: string) => {
      const f = filter.split("/");
      const t = topic.split("/");
      for (let i = 0; i < f.length; i++) {
        if (f[i] === "#") return true;
        if (t[i] === undefined || (f[i] !== "+" && f[i] !== t[i])) return false;
      }
      return f.length === t.length;
    };
    const level = fc.constantFrom("", "a", "b", "ab");
    const topic = fc.array(level, { minLength: 1, maxLength: 5 }).map((l) => l.join("/"));
    const filter = fc
      .tuple(fc.array(fc.constantFrom("", "a", "b", "+"), { maxLength: 4 }), fc.boolean())
      .map(([l, hash]) => (hash ? [...l, "#"] : l.length === 0 ? ["+"] : l).join("/"));
    fc.assert(
      fc.property(filter, topic, (f, t) => {
        deepStrictEqual(topicMatches(f, t), matchesBySplitting(f, t), `${f} ~ ${t}`);
      }),
      { seed: 20261121, numRuns: 3_000 },
    );
    // The compiled matcher, also with levels a regular expression would take for its own.
    const special = fc.constantFrom("", "a", "b", "ab", ".", "a.b", "$x", "(", "[^/]", "\\", "*");
    const specialTopic = fc.array(special, { minLength: 1, maxLength: 5 }).map((l) => l.join("/"));
    const specialFilter = fc
      .tuple(fc.array(fc.oneof(special, fc.constant("+")), { maxLength: 4 }), fc.boolean())
      .map(([l, hash]) => (hash ? [...l, "#"] : l.length === 0 ? ["+"] : l).join("/"));
    fc.assert(
      fc.property(specialFilter, specialTopic, (f, t) => {
        deepStrictEqual(topicMatcher(f)(t), matchesBySplitting(f, t), `${f} ~ ${t}`);
      }),
      { seed: 20261206, numRuns: 3_000 },
    );
  });

  it("fill output templates; values cannot add wildcards", () => {
    deepStrictEqual(
      expandOutputTopic("out/{device}/{rule}/{key}/{kind}", {
        device: "pi-1",
        rule: "r",
        key: "pump-3/temp+#",
        kind: "agg",
      }),
      "out/pi-1/r/pump-3/temp__/agg",
    );
  });

  it("know when an output template could come back in through a filter", () => {
    deepStrictEqual(
      [
        templateMayMatch("sensors/+/+", "sensors/{device}/{key}"), // a one-level key
        templateMayMatch("factory/+/+/temp", "factory/x/{key}"), // a key ending in /temp
        templateMayMatch("factory/#", "factory/{key}"),
        templateMayMatch("plant/+/telemetry", "summary/{key}"),
        templateMayMatch("a/b", "a/b/{key}"),
        templateMayMatch("a/+/+/+/+/+/+", "a/{key}"), // a six-level key
        templateMayMatch("a/+/+/+/+/+/+", "a/{key}/x/y/z/w/v/u"), // too long for the filter
      ],
      [true, true, true, false, false, true, false],
    );
  });
});
