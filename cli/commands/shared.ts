import type { Command } from 'commander';
import { parseDuration } from '../../core/duration';
import { isGrantId } from '../../core/ids';
import { ApiClient, authFor, BrokerError } from '../client';
import { resolveEndpoint } from '../endpoint';
import { CliError, EXIT } from '../errors';
import { safeJson } from '../format';
import { CLI_VERSION } from '../version';

/** Options every broker command takes. */
export interface BrokerOpts {
  endpoint?: string;
  json?: boolean;
}

/** `--endpoint` and `--json`, with the same words on every command. */
export function withBrokerOptions(cmd: Command): Command {
  return cmd
    .option(
      '--endpoint <url>',
      'broker URL (default: TIMEBOX_ENDPOINT, then the local broker of TIMEBOX_HOME or the one last started, then http://127.0.0.1:8787)',
    )
    .option('--json', 'print one JSON document on stdout instead of text');
}

/** The API client for a command: endpoint as resolveEndpoint finds it; SigV4 for AWS, else bearer. */
export function clientFor(opts: BrokerOpts): ApiClient {
  const endpoint = resolveEndpoint(opts.endpoint);
  return new ApiClient(endpoint, authFor(endpoint), `timebox-cli/${CLI_VERSION}`);
}

/** Repeatable options collect into a list. */
export const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** Checks a duration flag with the core parser (so `30m`, `1h30m` and `PT30M` all work) and returns the text. */
export function durationFlag(flag: string, value: string): { text: string; ms: number } {
  const d = parseDuration(value);
  if (!d.ok) throw new CliError(`${flag}: ${d.message}`, EXIT.usage);
  return { text: value.trim(), ms: d.ms };
}

/** A grant id argument, refused before it reaches a URL. */
export function grantIdArg(id: string): string {
  if (!isGrantId(id)) throw new CliError(`"${id}" is not a grant id (tb- and 26 letters and digits)`, EXIT.usage);
  return id;
}

/** An ISO-8601 time with a zone, for `--start`. */
export function timeFlag(flag: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const t = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}T.*(Z|[+-]\d{2}:\d{2})$/.test(value) || Number.isNaN(t.getTime()))
    throw new CliError(`${flag}: "${value}" is not an ISO-8601 time with a zone, such as 2026-11-25T09:30:00Z`);
  return t;
}

export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function err(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** One JSON document on stdout (safeJson: the same JSON, with no character that could hide text on a terminal). */
export function printJson(value: unknown): void {
  process.stdout.write(`${safeJson(value, 2)}\n`);
}

/**
 * Runs a command body. With `--json`, a failure is also one JSON document on stdout (`{"error": {...}}`, the
 * broker's own error when it answered), so a script reading stdout always gets JSON; the one-line message still
 * goes to stderr and the exit code is unchanged.
 */
export async function run(opts: BrokerOpts, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    if (opts.json) {
      // A refusal the CLI rephrased (a policy denial) still carries the broker's answer.
      const broker = e instanceof BrokerError ? e : (e as { broker?: unknown } | undefined)?.broker;
      const error =
        broker instanceof BrokerError
          ? { ...broker.error, status: broker.status }
          : { code: e instanceof CliError ? 'CLI.ERROR' : 'CLI.FAILED', message: (e as Error).message };
      printJson({ error });
    }
    throw e;
  }
}
