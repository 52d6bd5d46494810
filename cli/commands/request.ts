import { type Command, Option } from 'commander';
import { pathOf } from '../../api/routes';
import type { Grant } from '../../core/grant/state';
import { isTerminal } from '../../core/grant/state';
import type { Reason } from '../../core/reasons';
import { type ApiClient, BrokerError } from '../client';
import { CliError, EXIT } from '../errors';
import { approvalDeadline, nextSteps, printable, statusLine } from '../format';
import {
  type BrokerOpts,
  clientFor,
  collect,
  durationFlag,
  err,
  grantIdArg,
  out,
  printJson,
  run,
  timeFlag,
  withBrokerOptions,
} from './shared';

/** The broker's answer to POST /v1/requests and /extend. */
export interface RequestAnswer {
  grant: Grant;
  decision: { decision: string; rule: string | null; reasons: Reason[] };
}

/** Sends a request; a policy denial becomes a CliError listing the reasons (exit 1: the request itself is refused). */
export async function sendRequest(api: ApiClient, path: string, body: Record<string, unknown>): Promise<RequestAnswer> {
  try {
    return await api.call<RequestAnswer>('POST', path, body);
  } catch (e) {
    if (e instanceof BrokerError && e.error.code === 'REQUEST.DENIED') {
      const reasons = (e.error.reasons as Reason[] | undefined) ?? [];
      throw new DeniedRequest(reasons, e);
    }
    throw e;
  }
}

/** A request the access policy denied: exit 1, every reason on the one line (`--json` has them as a list). */
export class DeniedRequest extends CliError {
  constructor(
    readonly reasons: Reason[],
    readonly broker: BrokerError,
  ) {
    super(
      `the access policy denied this request${reasons.length ? `: ${reasons.map((r) => `${r.code}: ${r.message}`).join('; ')}` : ''}`,
      EXIT.failed,
    );
    this.name = 'DeniedRequest';
  }
}

export interface WaitOptions {
  timeoutMs: number;
  pollMs: number;
  /** Where the live status line goes (stderr). */
  write: (text: string) => void;
  /** On a terminal the line is rewritten in place (`\r`); otherwise each change is a new line. */
  tty: boolean;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

export type WaitOutcome = { result: 'active' | 'ended' | 'timeout'; grant: Grant };

/** Polls a grant until it is active, ends otherwise, or the timeout passes, keeping one status line up to date. */
export async function waitForGrant(api: ApiClient, first: Grant, opts: WaitOptions): Promise<WaitOutcome> {
  const now = opts.now ?? (() => new Date());
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = now().getTime() + opts.timeoutMs;
  let grant = first;
  let shown = '';
  let width = 0;
  // Without a terminal, a line is written only when the state changes (not every time "lapses in" ticks down).
  const show = (g: Grant) => {
    const line = statusLine(g, now());
    const key = opts.tty ? line : `${g.status}:${g.approvals.length}`;
    if (key === shown) return;
    if (opts.tty) {
      opts.write(`\r${line.padEnd(width)}`);
      width = Math.max(width, line.length);
    } else opts.write(`${line}\n`);
    shown = key;
  };
  try {
    for (;;) {
      show(grant);
      if (grant.status === 'active') return { result: 'active', grant };
      if (isTerminal(grant.status)) return { result: 'ended', grant };
      if (now().getTime() >= deadline) return { result: 'timeout', grant };
      await sleep(Math.min(opts.pollMs, Math.max(0, deadline - now().getTime())));
      grant = (await api.call<{ grant: Grant }>('GET', pathOf('request.get', { id: grant.id }))).grant;
    }
  } finally {
    if (opts.tty && shown) opts.write('\n');
  }
}

/** Prints a request's outcome (text or JSON) and, with --wait, follows it; returns the exit code. */
async function report(
  api: ApiClient,
  answer: RequestAnswer,
  opts: BrokerOpts & { wait?: boolean; timeout: string; pollInterval: string },
  label: string,
): Promise<number> {
  let grant = answer.grant;
  let code: number = EXIT.ok;
  if (opts.wait && grant.status !== 'active' && !isTerminal(grant.status)) {
    const outcome = await waitForGrant(api, grant, {
      timeoutMs: durationFlag('--timeout', opts.timeout).ms,
      pollMs: durationFlag('--poll-interval', opts.pollInterval).ms,
      write: (t) => process.stderr.write(t),
      tty: process.stderr.isTTY === true,
    });
    grant = outcome.grant;
    if (outcome.result === 'timeout') {
      err(
        `timebox: ${printable(`${grant.id} is still ${grant.status} after ${opts.timeout}`)}; follow it with timebox show ${printable(grant.id)}`,
      );
      code = EXIT.failed;
    } else if (outcome.result === 'ended') code = EXIT.failed;
  } else if (opts.wait && isTerminal(grant.status)) code = EXIT.failed;
  if (opts.json) {
    printJson({ grant, decision: answer.decision });
    return code;
  }
  // Read the clock now, after any wait: "in 15m" must be counted from when it is printed, not from the request.
  const now = new Date();
  out(`${label}${statusLine(grant, now)}${answer.decision.rule ? ` [rule ${printable(answer.decision.rule)}]` : ''}`);
  const deadline = approvalDeadline(grant);
  if (deadline) out(`  ${deadline}`);
  for (const step of nextSteps(grant)) out(`  ${step}`);
  return code;
}

const waitOptions = (cmd: Command) =>
  cmd
    .option('--wait', 'wait until the grant is active (exit 0) or ends otherwise (exit 1), showing its status')
    .option('--timeout <duration>', 'give up waiting after this long (exit 1)', '30m')
    .addOption(new Option('--poll-interval <duration>', 'how often to check while waiting').default('2s').hideHelp());

export function registerRequest(program: Command): void {
  waitOptions(
    withBrokerOptions(
      program
        .command('request')
        .description('ask for time-boxed access to a target')
        .argument('<target>', 'target name from the access policy, e.g. prod-logs')
        .requiredOption('--for <duration>', 'how long, e.g. 30m, 1h30m, PT30M')
        .requiredOption('--reason <text>', 'why (goes on the audit record and to approvers)')
        .option(
          '--scope <scope>',
          'narrow the target: an IAM action or ARN, a gRPC method pattern, a GCP role (repeatable)',
          collect,
          [],
        )
        .option('--ticket <id>', 'ticket or incident reference')
        .option('--start <time>', 'start later, at this ISO-8601 time'),
    ),
  ).action(
    async (
      target: string,
      opts: BrokerOpts & {
        for: string;
        reason: string;
        scope: string[];
        ticket?: string;
        start?: string;
        wait?: boolean;
        timeout: string;
        pollInterval: string;
      },
    ) =>
      run(opts, async () => {
        const duration = durationFlag('--for', opts.for);
        if (opts.wait) durationFlag('--timeout', opts.timeout);
        const startAt = timeFlag('--start', opts.start);
        if (!opts.reason.trim()) throw new CliError('--reason: must not be empty');
        const api = clientFor(opts);
        const answer = await sendRequest(api, pathOf('request.create'), {
          target,
          ...(opts.scope.length ? { scopes: opts.scope } : {}),
          duration: duration.text,
          reason: opts.reason,
          ...(opts.ticket ? { ticket: opts.ticket } : {}),
          ...(startAt ? { startAt: startAt.toISOString() } : {}),
        });
        process.exitCode = await report(api, answer, opts, '');
      }),
  );

  waitOptions(
    withBrokerOptions(
      program
        .command('extend')
        .description('ask to extend an active grant: a new request for the same scope, starting when it ends')
        .argument('<id>', 'the active grant')
        .requiredOption('--for <duration>', 'how much longer, e.g. 30m')
        .requiredOption('--reason <text>', 'why'),
    ),
  ).action(
    async (
      id: string,
      opts: BrokerOpts & { for: string; reason: string; wait?: boolean; timeout: string; pollInterval: string },
    ) =>
      run(opts, async () => {
        grantIdArg(id);
        const duration = durationFlag('--for', opts.for);
        if (!opts.reason.trim()) throw new CliError('--reason: must not be empty');
        const api = clientFor(opts);
        const answer = await sendRequest(api, pathOf('request.extend', { id }), {
          duration: duration.text,
          reason: opts.reason,
        });
        process.exitCode = await report(api, answer, opts, `extension of ${id}: `);
      }),
  );
}
