/** `brook demo`: the whole slice on loopback (agent/demo.ts). */
import type { Command } from "commander";
import { runDemo } from "../demo.js";
import { durationArg, intArg, portArg } from "./args.js";

export function register(program: Command): void {
  program
    .command("demo")
    .description(
      "run the whole slice on loopback: edge broker, simulated fleet, agent, cloud broker and sink",
    )
    .option("--duration <duration>", "stop by itself after this long, e.g. 10s", durationArg)
    .option("--data-dir <dir>", "where outbox.db, cloud.db and demo-rules.yaml live", "./data")
    .option("--edge-port <port>", "edge broker port (a free one if taken)", portArg, 1883)
    .option("--cloud-port <port>", "cloud broker port (a free one if taken)", portArg, 1884)
    .option("--http-port <port>", "metrics port (a free one if taken)", portArg, 9100)
    .option("--sensors <n>", "number of simulated sensors", intArg, 20)
    .option("--hz <n>", "readings per second per sensor", intArg, 10)
    .action(
      async (opts: {
        duration?: number;
        dataDir: string;
        edgePort: number;
        cloudPort: number;
        httpPort: number;
        sensors: number;
        hz: number;
      }) => {
        await runDemo({ ...opts, durationMs: opts.duration });
      },
    );
}
