import { deepStrictEqual } from "node:assert/strict";
import { describe, it } from "node:test";
import { parsedOnce } from "./memo.js";

describe("parsedOnce", () => {
  it("parses each string once, and no more than `max` strings are kept", () => {
    const calls: string[] = [];
    const split = parsedOnce((text) => {
      calls.push(text);
      return text.split("/");
    }, 2);
    for (const text of ["a/b", "a/b", "c", "c", "d", "d", "a/b"]) split(text);
    deepStrictEqual(split("a/b"), ["a", "b"]);
    // "d" came after the two kept ones: parsed each time it is asked for.
    deepStrictEqual(calls, ["a/b", "c", "d", "d"]);
  });
});
