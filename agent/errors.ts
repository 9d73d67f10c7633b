/**
 * Brook's coded error catalogue. Every error a user can see carries a stable
 * `BROOK_ERR_*` code so scripts and docs can refer to it; `isRetryable` tells the
 * runtime whether trying again later can succeed.
 * Bad readings are not errors: they travel as dead-letter values (see ingest/decode.ts).
 */
export const ErrorCodes = {
  BROOK_ERR_CONFIG_INVALID: { retryable: false, summary: "the configuration file is invalid" },
  BROOK_ERR_CONFIG_UNREADABLE: {
    retryable: false,
    summary: "the configuration file cannot be read",
  },
  BROOK_ERR_RULES_INVALID: { retryable: false, summary: "the rules file is invalid" },
  BROOK_ERR_RULES_UNREADABLE: { retryable: false, summary: "the rules file cannot be read" },
  BROOK_ERR_PORT_IN_USE: { retryable: false, summary: "a listening port is already taken" },
  BROOK_ERR_BROKER_UNREACHABLE: { retryable: true, summary: "an MQTT broker cannot be reached" },
  BROOK_ERR_OUTBOX_UNWRITABLE: {
    retryable: false,
    summary: "results could not be written to the outbox",
  },
  BROOK_ERR_SQLITE_ADDON: {
    retryable: false,
    summary: "the SQLite addon cannot be written or loaded (cloud-sync/sqlite-native.ts)",
  },
  BROOK_ERR_SINK_STORE: { retryable: true, summary: "the cloud sink cannot write its database" },
  BROOK_ERR_SCENARIO_INVALID: {
    retryable: false,
    summary: "the simulator's scenario file is invalid",
  },
  BROOK_ERR_SIM_INPUT: {
    retryable: false,
    summary: "a file given to brook sim (replay, truth, alerts) cannot be read or used",
  },
  BROOK_ERR_NOT_IMPLEMENTED: { retryable: false, summary: "this command is not implemented yet" },
  BROOK_ERR_USAGE: { retryable: false, summary: "the command line is invalid" },
  BROOK_ERR_AGENT_UNREACHABLE: {
    retryable: true,
    summary: "no running agent answers at its HTTP endpoint",
  },
  BROOK_ERR_UNAUTHORIZED: {
    retryable: false,
    summary: "the agent's HTTP endpoint refused the credentials given (or none were)",
  },
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class BrookError extends Error {
  readonly code: ErrorCode;
  /** Individual problems, e.g. one line per invalid config field. */
  readonly details: readonly string[];

  constructor(code: ErrorCode, message: string, details: readonly string[] = [], cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "BrookError";
    this.code = code;
    this.details = details;
  }
}

/**
 * The catalogue code an error carries, if any: BrookError's, and those of the parts that
 * cannot import this file (simulators/, cloud-sync/) but throw with a catalogue code.
 */
export function brookCode(err: unknown): ErrorCode | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && Object.hasOwn(ErrorCodes, code)
    ? (code as ErrorCode)
    : undefined;
}

export function isRetryable(err: unknown): boolean {
  const known = brookCode(err);
  if (known !== undefined) return ErrorCodes[known].retryable;
  const code = (err as { code?: unknown } | null)?.code;
  return code === "ECONNREFUSED" || code === "ECONNRESET" || code === "ETIMEDOUT";
}
