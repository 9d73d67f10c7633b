import { readFileSync } from "node:fs";

/**
 * The simulators' errors: a user's input they cannot use (a scenario, a replayed file, a
 * truth or alerts file, a flag), or a broker out of reach, with a message naming what. `brook` reports them
 * under the codes in agent/errors.ts (the CLI knows them by `code`).
 */
export class BrookSimError extends Error {
  constructor(
    message: string,
    readonly code:
      | "BROOK_ERR_SCENARIO_INVALID"
      | "BROOK_ERR_SIM_INPUT"
      | "BROOK_ERR_USAGE"
      | "BROOK_ERR_BROKER_UNREACHABLE" = "BROOK_ERR_SIM_INPUT",
  ) {
    super(message);
    this.name = "BrookSimError";
  }
}

/** A file the user named, read whole; one it cannot read is an error naming `label` (the file). */
export function readInput(file: string, label = file): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new BrookSimError(
      `${label}: cannot read (${(err as NodeJS.ErrnoException).code ?? err})`,
    );
  }
}
