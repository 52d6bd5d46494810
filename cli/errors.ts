/**
 * CLI exit codes (documented in the README):
 * 0 success (for `plan`: every decision, including deny), 1 the thing checked is bad (`check` problems,
 * `audit verify` breaks, a request the policy denied, `request --wait` ending without access or timing out,
 * `credential-process` with no credentials to print), 2 usage or configuration error, 3 the broker refused the
 * call (4xx), 4 the broker or network failed (5xx, timeout).
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, refused: 3, unavailable: 4 } as const;

/** An error the CLI prints as one line and turns into an exit code; never a stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
