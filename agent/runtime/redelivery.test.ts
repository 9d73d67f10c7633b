import { deepStrictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import { contentSum, Redeliveries } from "./redelivery.js";

const p = (s: string) => Buffer.from(s);

describe("redeliveries", () => {
  it("know a DUP message taken before by its publisher, packet id and content", () => {
    const r = new Redeliveries(8);
    r.taken("a", 1, 0, contentSum("t", p("x")));
    r.taken("b", 1, 0, contentSum("t", p("y")));
    deepStrictEqual(
      [
        r.isRedelivery("a", 1, "t", p("x")),
        r.isRedelivery("b", 1, "t", p("y")),
        r.isRedelivery("a", 1, "t", p("y")), // another message under a reused packet id
        r.isRedelivery("a", 1, "u", p("x")),
        r.isRedelivery("a", 2, "t", p("x")),
        r.isRedelivery("c", 1, "t", p("x")),
      ],
      [true, true, false, false, false, false],
    );
  });

  it("take only what was taken at or after a time, when asked to", () => {
    const r = new Redeliveries(8);
    r.taken("a", 1, 1_000, contentSum("t", p("x")));
    deepStrictEqual(
      [r.isRedelivery("a", 1, "t", p("x"), 999), r.isRedelivery("a", 1, "t", p("x"), 1_001)],
      [true, false],
    );
  });

  it("judge by the latest message under a packet id, and forget beyond their capacity", () => {
    const r = new Redeliveries(4);
    r.taken("a", 7, 0, contentSum("t", p("old")));
    r.taken("a", 7, 0, contentSum("t", p("new")));
    deepStrictEqual(
      [r.isRedelivery("a", 7, "t", p("old")), r.isRedelivery("a", 7, "t", p("new"))],
      [false, true],
    );
    for (let i = 0; i < 4; i++) r.taken("b", i, 0, contentSum("t", p(String(i))));
    deepStrictEqual(r.isRedelivery("a", 7, "t", p("new")), false);
  });

  it("survive a checkpoint", () => {
    const r = new Redeliveries(8);
    r.taken("a", 3, 0, contentSum("t", p("x")));
    const again = new Redeliveries(8);
    again.restore(structuredClone(r.snapshot()));
    deepStrictEqual(again.isRedelivery("a", 3, "t", p("x")), true);
    again.taken("z", 1, 0, contentSum("t", p("q")));
    deepStrictEqual(again.isRedelivery("z", 1, "t", p("q")), true);
  });
});
