/** A real mosquitto broker for end-to-end tests, on a free loopback port with a temporary config. */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, type Running, start } from "./process.js";

/** Debian installs the broker in /usr/sbin, which is not on every user's PATH. */
const MOSQUITTO = existsSync("/usr/sbin/mosquitto") ? "/usr/sbin/mosquitto" : "mosquitto";

export interface MosquittoOptions {
  /** keep sessions and queued messages in this folder, saved every second and at a clean stop */
  persistenceDir?: string;
  /** replaces the plain listener: e.g. TLS and password settings for it */
  listener?: (port: number) => string[];
}

export interface Mosquitto {
  readonly port: number;
  readonly url: string;
  process: Running;
  stop(): Promise<void>;
  /** Starts it again on the same port, with the same config (and persistence). */
  restart(): Promise<void>;
  signal(signal: NodeJS.Signals): void;
}

function config(port: number, options: MosquittoOptions): string {
  const lines = [
    ...(options.listener?.(port) ?? [`listener ${port} 127.0.0.1`, "allow_anonymous true"]),
    // The default (1000) silently drops messages to a slow subscriber.
    "max_queued_messages 0",
    "log_dest stderr",
    "log_type error",
    "log_type warning",
    "log_type notice",
    "log_type information",
  ];
  // Started as root, mosquitto would drop to its own user, who cannot use our temp dir.
  if (process.getuid?.() === 0) lines.push("user root");
  if (options.persistenceDir === undefined) lines.push("persistence false");
  else
    lines.push(
      "persistence true",
      `persistence_location ${options.persistenceDir}/`,
      "autosave_interval 1",
    );
  return `${lines.join("\n")}\n`;
}

async function launch(file: string): Promise<Running> {
  const proc = start(MOSQUITTO, ["-c", file]);
  try {
    // "running" comes once every listener is open; a port taken meanwhile (freePort's
    // race with other programs' connections) ends the process with an error instead.
    await proc.waitForLine(/mosquitto version \S+ running/, 10_000);
    return proc;
  } catch (err) {
    await proc.stop().catch(() => undefined);
    throw err;
  }
}

export async function startMosquitto(
  dir: string,
  options: MosquittoOptions = {},
): Promise<Mosquitto> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const file = join(dir, `mosquitto-${port}.conf`);
    writeFileSync(file, config(port, options));
    try {
      const broker: Mosquitto = {
        port,
        url: `mqtt://127.0.0.1:${port}`,
        process: await launch(file),
        async stop() {
          await broker.process.stop();
        },
        async restart() {
          // The port was just released; retry briefly while the kernel lets go of it.
          for (let i = 0; ; i++) {
            try {
              broker.process = await launch(file);
              return;
            } catch (err) {
              if (i >= 20) throw err;
              await new Promise((r) => setTimeout(r, 100));
            }
          }
        },
        signal(signal) {
          broker.process.child.kill(signal);
        },
      };
      return broker;
    } catch (err) {
      if (attempt >= 2) throw err;
    }
  }
}
