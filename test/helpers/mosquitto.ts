/** A real mosquitto broker for end-to-end tests, on a free loopback port with a temporary config. */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, type Running, start } from "./process.js";

/** Debian installs the broker in /usr/sbin, which is not on every user's PATH. */
const MOSQUITTO = existsSync("/usr/sbin/mosquitto") ? "/usr/sbin/mosquitto" : "mosquitto";

export interface Mosquitto {
  readonly port: number;
  readonly url: string;
  readonly process: Running;
  stop(): Promise<void>;
}

export async function startMosquitto(dir: string): Promise<Mosquitto> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const config = join(dir, `mosquitto-${port}.conf`);
    writeFileSync(
      config,
      [
        `listener ${port} 127.0.0.1`,
        "allow_anonymous true",
        // The default (1000) silently drops messages to a slow subscriber.
        "max_queued_messages 0",
        "persistence false",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "",
      ].join("\n"),
    );
    const proc = start(MOSQUITTO, ["-c", config]);
    try {
      await proc.waitForLine(/Opening ipv4 listen socket on port/, 10_000);
      return {
        port,
        url: `mqtt://127.0.0.1:${port}`,
        process: proc,
        async stop() {
          await proc.stop();
        },
      };
    } catch (err) {
      await proc.stop().catch(() => undefined);
      if (attempt >= 2) throw err;
    }
  }
}
