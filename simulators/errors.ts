/**
 * The simulators' errors: a user's input they cannot use (a scenario, a replayed file, a
 * truth or alerts file), with a message naming the file and line. `brook` reports them
 * under the codes in agent/errors.ts.
 */
export class BrookSimError extends Error {
  constructor(
    message: string,
    readonly code: "BROOK_ERR_SCENARIO_INVALID" | "BROOK_ERR_SIM_INPUT" = "BROOK_ERR_SIM_INPUT",
  ) {
    super(message);
    this.name = "BrookSimError";
  }
}
