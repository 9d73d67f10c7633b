import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { outboxSuite, record } from "./outbox.abstract.js";
import { SqliteOutbox } from "./sqlite-outbox.js";

const dir = mkdtempSync(join(tmpdir(), "brook-outbox-"));
let n = 0;
outboxSuite("SqliteOutbox", () => new SqliteOutbox(join(dir, `outbox-${n++}.db`)));

describe("SqliteOutbox", () => {
  it("keeps records across a close and reopen of the file", () => {
    const file = join(dir, "reopen.db");
    const first = new SqliteOutbox(file);
    first.append([record("a"), record("b")], 1);
    first.remove([first.peek(1, new Set())[0]?.seq as number]);
    first.close();
    const second = new SqliteOutbox(file);
    strictEqual(second.depth(), 1);
    deepStrictEqual(
      second.peek(10, new Set()).map((r) => r.id),
      ["b"],
    );
    second.close();
  });
});
