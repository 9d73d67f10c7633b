import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { serialize } from "node:v8";
import Database from "better-sqlite3";
import type { EngineSnapshot } from "../engine/engine.js";
import { type Checkpoint, PART_KEYS, StateStore } from "./checkpoint.js";

const dir = mkdtempSync(join(tmpdir(), "brook-checkpoint-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A snapshot of `counts[i]` keys for rule i, each with typed-array state as the engine keeps it. */
function snapshot(counts: number[], bad?: unknown): Checkpoint {
  const rules = counts.map((n, r) => ({
    rule: { name: `rule-${r}` } as unknown as EngineSnapshot["rules"][number]["rule"],
    keys: Array.from({ length: n }, (_, k) => {
      const values = new Float64Array(60).fill(k + r / 10);
      return [
        `s${k}`,
        1_000 + k,
        k === 7 && r === counts.length - 1 && bad !== undefined ? bad : { values, at: k },
        k,
      ];
    }) as EngineSnapshot["rules"][number]["keys"],
  }));
  return { engine: { version: 3, rules, lossyUntil: 5 }, log: undefined, redeliveries: undefined };
}

describe("StateStore: a checkpoint in parts", () => {
  it("saves the keys in parts of PART_KEYS and loads exactly what was saved", () => {
    const store = new StateStore(join(dir, "parts.db"));
    const saved = snapshot([PART_KEYS * 2 + 3, 3, 0]);
    store.save(saved, 42);
    const loaded = store.load();
    deepStrictEqual(loaded?.checkpoint, saved);
    strictEqual(loaded?.savedAt, 42);
    store.close();
    const db = new Database(join(dir, "parts.db"), { readonly: true });
    strictEqual(
      (db.prepare("SELECT count(*) AS n FROM checkpoint_part").get() as { n: number }).n,
      4,
    );
    db.close();
  });

  it("a smaller checkpoint leaves no part of the one before", () => {
    const store = new StateStore(join(dir, "shrink.db"));
    store.save(snapshot([PART_KEYS * 3]), 1);
    const smaller = snapshot([2, 1]);
    store.save(smaller, 2);
    deepStrictEqual(store.load()?.checkpoint, smaller);
    store.close();
  });

  it("is saved whole or not at all: a part that cannot be written keeps the checkpoint before", () => {
    const store = new StateStore(join(dir, "atomic.db"));
    const first = snapshot([PART_KEYS + 1]);
    store.save(first, 1);
    // A function cannot be serialised: the save throws after the first rule's parts are written.
    throws(() =>
      store.save(
        snapshot([PART_KEYS + 1, 9], () => 0),
        2,
      ),
    );
    deepStrictEqual(store.load()?.checkpoint, first);
    strictEqual(store.load()?.savedAt, 1);
    store.close();
  });

  it("check reads it through once and hands that to the next load (recovery does not read it again)", () => {
    const store = new StateStore(join(dir, "check.db"));
    store.save(snapshot([PART_KEYS + 5]), 3);
    store.check();
    const first = store.load();
    const second = store.load();
    ok(first !== undefined && second !== undefined);
    deepStrictEqual(second, first);
    ok(first.checkpoint !== second.checkpoint, "the second load read the file again");
    store.close();
  });

  it("reads a checkpoint of the layout before parts (written whole, layout 3)", () => {
    const file = join(dir, "layout3.db");
    new StateStore(file).close();
    const old = snapshot([5]);
    const db = new Database(file);
    db.prepare("INSERT INTO checkpoint (id, saved_at, version, body) VALUES (1, 7, 3, ?)").run(
      serialize(old),
    );
    db.close();
    const store = new StateStore(file);
    deepStrictEqual(store.load()?.checkpoint, old);
    store.close();
  });
});
