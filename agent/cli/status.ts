/**
 * `brook status`: what a running agent is doing, from its HTTP endpoint (`GET /status`):
 * state, uptime, readings/s, windows, state memory, alerts, outbox, uplink, drops.
 */
import type { Command } from "commander";
import { loadConfig } from "../config/load.js";
import { BrookError } from "../errors.js";
import { formatStatus, type StatusReport } from "../live/status.js";

interface StatusOptions {
  url?: string;
  config?: string;
  username?: string;
  password?: string;
  json?: boolean;
  watch?: string | boolean;
}

/** The endpoint: `--url`, or the config's `http` (a wildcard address is reached on loopback). */
function endpoint(opts: StatusOptions): string {
  if (opts.url !== undefined) {
    if (!/^https?:\/\/[^/]+/.test(opts.url))
      throw new BrookError(
        "BROOK_ERR_USAGE",
        `status: --url must be http://HOST:PORT, not ${opts.url}`,
      );
    return opts.url.replace(/\/+$/, "");
  }
  if (opts.config === undefined)
    throw new BrookError(
      "BROOK_ERR_USAGE",
      "status: give --url http://HOST:PORT or --config <the agent's config file>",
    );
  const { http } = loadConfig(opts.config);
  if (!http.enabled)
    throw new BrookError(
      "BROOK_ERR_USAGE",
      `status: ${opts.config} turns the HTTP endpoint off (http.enabled: false); brook status reads it`,
    );
  if (http.port === 0)
    throw new BrookError(
      "BROOK_ERR_USAGE",
      `status: ${opts.config} sets http.port: 0 (a free port picked at each start); give --url http://HOST:PORT with the port the agent logged`,
    );
  const host = http.host === "0.0.0.0" || http.host === "::" ? "127.0.0.1" : http.host;
  return `http://${host.includes(":") ? `[${host}]` : host}:${http.port}`;
}

async function fetchStatus(url: string, opts: StatusOptions): Promise<StatusReport> {
  const password = opts.password ?? process.env.BROOK_PASSWORD;
  const headers: Record<string, string> = {};
  if (opts.username !== undefined)
    headers.authorization = `Basic ${Buffer.from(`${opts.username}:${password ?? ""}`).toString("base64")}`;
  let res: Response;
  try {
    res = await fetch(`${url}/status`, { headers, signal: AbortSignal.timeout(5_000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new BrookError(
      "BROOK_ERR_AGENT_UNREACHABLE",
      `no agent answers at ${url} (${cause}): is it running, with its HTTP endpoint on (http.enabled)?`,
    );
  }
  if (res.status === 401)
    throw new BrookError(
      "BROOK_ERR_UNAUTHORIZED",
      `the agent at ${url} asks for a user of its broker's credentials file: --username, and --password or BROOK_PASSWORD${opts.username === undefined ? "" : " (these were refused)"}`,
    );
  if (!res.ok)
    throw new BrookError(
      "BROOK_ERR_AGENT_UNREACHABLE",
      `${url}/status answered ${res.status}: ${(await res.text()).trim()}`,
    );
  return (await res.json()) as StatusReport;
}

export function register(program: Command): void {
  program
    .command("status")
    .description(
      "what a running agent is doing: state, readings/s, windows, alerts, outbox, uplink, drops",
    )
    .option("--url <url>", "the agent's HTTP endpoint, http://HOST:PORT")
    .option("-c, --config <file>", "the agent's config file (its http.host and http.port)")
    .option("-u, --username <name>", "a user of the broker's credentials file, if it has one")
    .option("-p, --password <secret>", "that user's password (or BROOK_PASSWORD)")
    .option("--json", "one JSON object")
    .option("--watch [seconds]", "print it again every N seconds (default 2) until Ctrl-C")
    .action(async (opts: StatusOptions) => {
      const url = endpoint(opts);
      const print = async () => {
        const report = await fetchStatus(url, opts);
        return opts.json === true ? `${JSON.stringify(report)}\n` : formatStatus(report, url);
      };
      if (opts.watch === undefined) {
        process.stdout.write(await print());
        return;
      }
      const seconds = opts.watch === true ? 2 : Number(opts.watch);
      if (!(seconds > 0))
        throw new BrookError(
          "BROOK_ERR_USAGE",
          `status: --watch takes seconds > 0, not ${opts.watch}`,
        );
      for (;;) {
        // Cleared and printed again; an unreachable agent is said, and tried again.
        const text = await print().catch((err: Error) => `brook: ${err.message}\n`);
        process.stdout.write(`${opts.json === true ? "" : "\x1b[2J\x1b[H"}${text}`);
        await new Promise((r) => setTimeout(r, seconds * 1000));
      }
    });
}
