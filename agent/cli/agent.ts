/** `brook agent`: runs the agent with a config file until SIGINT or SIGTERM; SIGHUP reloads its rules (and credentials file). */
import type { Command } from "commander";
import { loadConfig } from "../config/load.js";
import { Agent } from "../runtime/agent.js";
import { createLogger } from "../runtime/log.js";
import { stopRequested } from "../runtime/signals.js";

/** Where `brook agent` looks without --config: the deployment kit's place (deploy/). */
export const DEFAULT_CONFIG = "/etc/brook/config.yaml";

export function register(program: Command): void {
  program
    .command("agent")
    .description("run the agent with a config file")
    .option("-c, --config <file>", "agent config file (YAML)", DEFAULT_CONFIG)
    .action(async (opts: { config: string }) => {
      const config = loadConfig(opts.config);
      // Listening before the agent starts: a SIGHUP then must not kill the process, and one
      // that arrives while it starts (its rules maybe read already) reloads once it is up.
      let agent: Agent | undefined;
      let missed = false;
      const reload = () => {
        if (agent === undefined) missed = true;
        else {
          agent.reloadRules();
          agent.reloadCredentials();
        }
      };
      process.on("SIGHUP", reload);
      agent = await Agent.start(config, { logger: createLogger() });
      if (missed) agent.reloadRules();
      await stopRequested();
      process.off("SIGHUP", reload);
      await agent.stop();
    });
}
