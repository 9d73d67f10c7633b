/** `brook bench`: not implemented yet. */
import type { Command } from "commander";
import { BrookError } from "../errors.js";

export function register(program: Command): void {
  program
    .command("bench")
    .description("run the benchmarks")
    .allowUnknownOption()
    .action(() => {
      throw new BrookError("BROOK_ERR_NOT_IMPLEMENTED", "bench: not implemented yet (issue 3)");
    });
}
