/** The SQLite store of the cloud sink, against the stores' shared contract. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resultStoreSuite } from "./result-store.abstract.js";
import { SinkStore } from "./sink-store.js";

let file = "";
resultStoreSuite("SQLite", {
  async fresh() {
    file = join(mkdtempSync(join(tmpdir(), "brook-sink-")), "cloud.db");
  },
  async open() {
    return new SinkStore(file);
  },
});
