import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { BrookError } from "../errors.js";
import { ENV_FIELDS, loadConfig, parseConfig } from "./load.js";

function problems(text: string, env: NodeJS.ProcessEnv = {}): readonly string[] {
  try {
    parseConfig("/etc/brook/config.yaml", text, env);
  } catch (err) {
    ok(err instanceof BrookError);
    strictEqual(err.code, "BROOK_ERR_CONFIG_INVALID");
    return err.details;
  }
  throw new Error("expected the config to be rejected");
}

describe("agent config", () => {
  it("fills defaults, resolves paths against the config file's folder, and freezes", () => {
    const config = parseConfig("/etc/brook/config.yaml", "device: pi-01\n");
    // On loopback, without credentials: open to local clients, with the default limits.
    deepStrictEqual(config.edge, {
      mode: "embedded",
      host: "127.0.0.1",
      port: 1883,
      passwords: undefined,
      allowAnonymous: true,
      acl: undefined,
      tls: undefined,
      limits: {
        maxConnections: 1000,
        maxPacketBytes: 65536,
        publishRate: 10000,
        maxQueuedBytes: 8388608,
        maxRetainedBytes: 1048576,
      },
    });
    strictEqual(config.dataDir, "/etc/brook/data");
    deepStrictEqual(config.http, { host: "127.0.0.1", port: 9100, enabled: true });
    strictEqual(config.uplink, undefined);
    ok(Object.isFrozen(config) && Object.isFrozen(config.edge) && Object.isFrozen(config.http));
  });

  it("reports every problem with file:line:col and the field path", () => {
    const text = [
      "device: pi-01",
      "edge:",
      "  embedded:",
      "    port: 70000",
      "dataDri: /var/lib/brook",
      "uplink:",
      "  username: u",
      "",
    ].join("\n");
    deepStrictEqual(problems(text), [
      '/etc/brook/config.yaml:5:1: dataDri: unknown field (did you mean "dataDir"?)',
      "/etc/brook/config.yaml:4:11: edge.embedded.port: must be <= 65535",
      '/etc/brook/config.yaml:7:3: uplink: missing required field "url"',
    ]);
  });

  it("reports a missing device at the document", () => {
    deepStrictEqual(problems("dataDir: /tmp\n"), [
      '/etc/brook/config.yaml:1:1: (document): missing required field "device"',
    ]);
  });

  it("reports YAML syntax errors with their position", () => {
    const details = problems("device: [unclosed\n");
    strictEqual(details.length > 0, true);
    ok(details[0]?.startsWith("/etc/brook/config.yaml:"), details[0]);
  });

  it("lets BROOK_* environment variables override fields, typed by the schema", () => {
    const config = parseConfig("/c/config.yaml", "device: pi-01\n", {
      BROOK_DEVICE: "pi-02",
      BROOK_HTTP_PORT: "9200",
      BROOK_UPLINK_URL: "mqtt://cloud:1883",
      BROOK_DATA_DIR: "/var/lib/brook",
    });
    strictEqual(config.device, "pi-02");
    strictEqual(config.http.port, 9200);
    strictEqual(config.uplink?.url, "mqtt://cloud:1883");
    strictEqual(config.dataDir, "/var/lib/brook");
  });

  it("blames the environment variable when an override is invalid", () => {
    deepStrictEqual(problems("device: pi-01\n", { BROOK_HTTP_PORT: "http" }), [
      "env BROOK_HTTP_PORT: http.port: must be integer",
    ]);
  });

  it("lets BROOK_EDGE_URL replace an embedded broker set in the file", () => {
    const config = parseConfig("/c/config.yaml", "device: d\nedge:\n  embedded: {port: 1883}\n", {
      BROOK_EDGE_URL: "mqtt://10.0.0.2:1883",
    });
    deepStrictEqual(config.edge, {
      mode: "external",
      url: "mqtt://10.0.0.2:1883",
      username: undefined,
      password: undefined,
    });
  });

  it("blames the variable that created an incomplete object", () => {
    deepStrictEqual(problems("device: d\n", { BROOK_UPLINK_USERNAME: "u" }), [
      'env BROOK_UPLINK_USERNAME: uplink: missing required field "url"',
    ]);
  });

  it("names an environment variable for every leaf field", () => {
    const names = ENV_FIELDS.map((f) => f.env);
    for (const expected of [
      "BROOK_DEVICE",
      "BROOK_EDGE_URL",
      "BROOK_EDGE_EMBEDDED_PORT",
      "BROOK_UPLINK_TLS_CA",
      "BROOK_HTTP_PORT",
    ]) {
      ok(names.includes(expected), expected);
    }
  });

  it("rejects an edge with both an external URL and an embedded broker", () => {
    deepStrictEqual(problems("device: d\nedge:\n  url: mqtt://x:1883\n  embedded: {port: 1}\n"), [
      "/etc/brook/config.yaml:3:8: edge.url: set either edge.url (an external broker) or edge.embedded, not both",
    ]);
  });

  it("checks that TLS files and the rules file exist", () => {
    const details = problems(
      "device: d\nrules: missing.yaml\nuplink:\n  url: mqtts://x:8883\n  tls:\n    ca: nope.pem\n",
    );
    deepStrictEqual(details, [
      "/etc/brook/config.yaml:6:9: uplink.tls.ca: file not found: /etc/brook/nope.pem",
      "/etc/brook/config.yaml:2:8: rules: file not found: /etc/brook/missing.yaml",
    ]);
  });

  it("rejects a TLS path that is not a readable file", () => {
    const dir = mkdtempSync(join(tmpdir(), "brook-config-"));
    deepStrictEqual(problems(`device: d\nuplink:\n  url: mqtts://x:8883\n  tls: {ca: ${dir}}\n`), [
      `/etc/brook/config.yaml:4:13: uplink.tls.ca: cannot read ${dir} (EISDIR)`,
    ]);
  });

  it("throws a coded error for an unreadable file", () => {
    throws(
      () => loadConfig("/nonexistent/brook.yaml"),
      (err: unknown) => err instanceof BrookError && err.code === "BROOK_ERR_CONFIG_UNREADABLE",
    );
  });
});
