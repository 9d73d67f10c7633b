/** Child processes for end-to-end tests: spawn, read their output, wait for a line or an exit. */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { after } from "node:test";
import { fileURLToPath } from "node:url";

/** `brook demo` on free ports, so it runs beside anything else. */
export const DEMO_ON_FREE_PORTS = ["--edge-port", "0", "--cloud-port", "0", "--http-port", "0"];

export const BROOK_BIN = fileURLToPath(new URL("../../bin/brook.js", import.meta.url));

export interface Running {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves with the first output line matching `pattern`; rejects on exit or after `timeoutMs`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or the signal name). */
  exited(timeoutMs?: number): Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export function start(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; stdin?: string } = {},
): Running {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let text = "";
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString("utf8");
    for (const l of listeners) l();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  if (options.stdin !== undefined) child.stdin?.end(options.stdin);
  let exit: number | string | undefined;
  const exitPromise = new Promise<number | string>((resolve) => {
    child.on("exit", (code, signal) => {
      exit = code ?? signal ?? "unknown";
      for (const l of listeners) l();
      resolve(exit);
    });
  });
  const withTimeout = <T>(p: Promise<T>, ms: number, what: string) =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`timed out after ${ms} ms waiting for ${what}; output so far:\n${text}`),
          ),
        ms,
      );
      p.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  return {
    child,
    output: () => text,
    waitForLine(pattern, timeoutMs = 15_000) {
      const found = new Promise<string>((resolve, reject) => {
        const check = () => {
          const line = text.split("\n").find((l) => pattern.test(l));
          if (line !== undefined) {
            listeners.delete(check);
            resolve(line);
          } else if (exit !== undefined) {
            listeners.delete(check);
            reject(
              new Error(`${command} exited (${exit}) before printing ${pattern}; output:\n${text}`),
            );
          }
        };
        listeners.add(check);
        check();
      });
      return withTimeout(found, timeoutMs, String(pattern));
    },
    exited(timeoutMs = 15_000) {
      return withTimeout(exitPromise, timeoutMs, `${command} to exit`);
    },
    stop(signal = "SIGTERM") {
      if (exit === undefined) child.kill(signal);
      return withTimeout(exitPromise, 10_000, `${command} to stop`);
    },
  };
}

export function brook(
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Running {
  return start(process.execPath, [BROOK_BIN, ...args], options);
}

/** A free TCP port on 127.0.0.1 (the OS picks it; the listener is closed before returning). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Polls `probe` until it returns a value other than undefined; for state in files or databases. */
export async function eventually<T>(
  probe: () => T | undefined,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * For a suite: push a stop function for each thing it starts; after the suite they run,
 * newest first, and one that fails does not keep the others from running.
 */
export function stopAfterAll(): (() => Promise<unknown>)[] {
  const stops: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  });
  return stops;
}
