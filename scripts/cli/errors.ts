// The CLI's one error type and its exit codes. Every failure the user can cause or meet
// (bad flag, unreachable relay, wrong code, expired token, refused write) becomes a CliError:
// main prints `webchat-cli: <message>` on one line and exits with its code. No stack traces.

export const EXIT = {
  /** The relay refused the request (403, 404, 409, 413, …) or something else failed. */
  refused: 1,
  /** Bad flags or arguments. */
  usage: 2,
  /** The relay could not be reached or did not answer in time. */
  unreachable: 3,
  /** Login failed: wrong code, expired session that cannot be renewed without a code. */
  auth: 4,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.refused,
    /** The relay's stable error code, when the relay refused. */
    readonly code?: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export const usage = (message: string) => new CliError(`${message} (see --help)`, EXIT.usage);
