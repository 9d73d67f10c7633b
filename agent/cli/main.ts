/**
 * The `brook` command line: one file per command beside this one. Only the command being
 * run is loaded (its code, its libraries, the schemas it compiles): `brook agent` never
 * loads the simulator, nor `brook sim` the engine. Help, and a name no command has, load them all.
 */
import { Command, CommanderError } from "commander";
import { brookCode } from "../errors.js";
import { VERSION } from "../version.js";

type Module = { register(program: Command): void };

/** In the order `brook --help` lists them. */
const COMMANDS: Record<string, () => Promise<Module>> = {
  agent: () => import("./agent.js"),
  "cloud-sink": () => import("./cloud-sink.js"),
  demo: () => import("./demo.js"),
  status: () => import("./status.js"),
  rules: () => import("./rules.js"),
  sim: () => import("./sim.js"),
  bench: () => import("./bench.js"),
  outbox: () => import("./outbox.js"),
  selftest: () => import("./selftest.js"),
  passwd: () => import("./passwd.js"),
};

/** The program with the commands `argv` may run: the one it names, or all of them. */
export async function buildCli(argv: readonly string[] = []): Promise<Command> {
  const program = new Command("brook")
    .description(
      "Stream agent for edge devices: MQTT readings in, windowed aggregates and alerts out to a cloud broker.",
    )
    .version(VERSION, "-V, --version")
    .showHelpAfterError()
    // Throw instead of exiting, so main() decides the exit code; subcommands inherit this.
    .exitOverride()
    // A command's options go before its subcommand: `brook sim score --truth …` gives
    // score's --truth, not sim's (subcommands inherit this too).
    .enablePositionalOptions();
  const named = argv.slice(2).find((a) => !a.startsWith("-"));
  const load =
    named !== undefined && Object.hasOwn(COMMANDS, named) ? [named] : Object.keys(COMMANDS);
  for (const name of load) (await (COMMANDS[name] as () => Promise<Module>)()).register(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await (await buildCli(argv)).parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0; usage errors exit 2.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
    } else if (brookCode(err) !== undefined) {
      const code = brookCode(err);
      process.stderr.write(`brook: ${(err as Error).message}\n`);
      process.exitCode = code === "BROOK_ERR_NOT_IMPLEMENTED" || code === "BROOK_ERR_USAGE" ? 2 : 1;
    } else {
      process.stderr.write(
        `brook: unexpected error: ${(err as Error | null)?.stack ?? String(err)}\n`,
      );
      process.exitCode = 1;
    }
    // Exit now: a part that failed half-way must not keep the process alive.
    process.exit();
  }
}
