import type { Command } from 'commander';
import { pathOf } from '../../api/routes';
import { GRANT_STATUSES, type GrantEvent, type GrantStatus } from '../../core/grant/events';
import type { Grant } from '../../core/grant/state';
import type { ApiClient } from '../client';
import { endingText } from '../ending';
import { CliError } from '../errors';
import {
  EVENT_HEADERS,
  eventRow,
  GRANT_HEADERS,
  grantDetails,
  grantRow,
  nextSteps,
  statusLine,
  table,
} from '../format';
import { type BrokerOpts, clientFor, grantIdArg, out, printJson, run, withBrokerOptions } from './shared';

const STATUSES: readonly GrantStatus[] = GRANT_STATUSES;

/** Every lifecycle event of one grant (GET /v1/audit?grant=, following the cursor). */
export async function grantEvents(api: ApiClient, id: string): Promise<GrantEvent[]> {
  const events: GrantEvent[] = [];
  let cursor: string | undefined;
  do {
    const q = new URLSearchParams({ grant: id, limit: '1000', ...(cursor ? { cursor } : {}) });
    const page = await api.call<{ events: GrantEvent[]; cursor?: string }>('GET', `${pathOf('audit.list')}?${q}`);
    events.push(...page.events);
    cursor = page.cursor;
  } while (cursor);
  return events;
}

/** The query string of `list`: exactly one of mine / approvable / status (mine is the default). */
export function listQuery(opts: { mine?: boolean; pending?: boolean; status?: string; limit?: string }): string {
  if (opts.mine && opts.pending) throw new CliError('use either --mine or --pending, not both');
  if (opts.status !== undefined && !STATUSES.includes(opts.status as GrantStatus))
    throw new CliError(`--status: "${opts.status}" is not one of ${STATUSES.join(', ')}`);
  if (opts.limit !== undefined && !/^\d{1,3}$/.test(opts.limit))
    throw new CliError(`--limit: "${opts.limit}" is not a number from 1 to 100`);
  if (opts.limit !== undefined && (Number(opts.limit) < 1 || Number(opts.limit) > 100))
    throw new CliError(`--limit: ${opts.limit} is not between 1 and 100`);
  const q = new URLSearchParams();
  if (opts.pending) q.set('approvable', 'true');
  else if (opts.mine || opts.status === undefined) q.set('mine', 'true');
  if (opts.status) q.set('status', opts.status);
  if (opts.limit) q.set('limit', opts.limit);
  return q.toString();
}

/** A decision or end of a grant (approve, deny, cancel, revoke): POST, then one line saying where it stands. */
function decisionCommand(
  program: Command,
  name: 'approve' | 'deny' | 'cancel' | 'revoke',
  describe: string,
  text: { flag: '--comment' | '--reason'; required: boolean; help: string },
): void {
  const cmd = program.command(name).description(describe).argument('<id>', 'grant id');
  if (text.required) cmd.requiredOption(`${text.flag} <text>`, text.help);
  else cmd.option(`${text.flag} <text>`, text.help);
  withBrokerOptions(cmd).action(async (id: string, opts: BrokerOpts & { comment?: string; reason?: string }) =>
    run(opts, async () => {
      grantIdArg(id);
      const value = text.flag === '--comment' ? opts.comment : opts.reason;
      if (text.required && !value?.trim()) throw new CliError(`${text.flag}: must not be empty`);
      const key = text.flag.slice(2);
      const { grant } = await clientFor(opts).call<{ grant: Grant }>(
        'POST',
        pathOf(`request.${name}`, { id }),
        value === undefined ? {} : { [key]: value },
      );
      if (opts.json) return printJson({ grant });
      out(statusLine(grant, new Date()));
    }),
  );
}

export function registerGrants(program: Command): void {
  withBrokerOptions(
    program
      .command('list')
      .description('list grants: your own (default), those waiting for your approval, or by status')
      .option('--mine', 'your own requests (the default)')
      .option('--pending', 'requests waiting for your approval')
      .option('--status <status>', `only this status (${STATUSES.join(', ')})`)
      .option('--limit <n>', 'at most this many (1-100, default 50)'),
  ).action(async (opts: BrokerOpts & { mine?: boolean; pending?: boolean; status?: string; limit?: string }) =>
    run(opts, async () => {
      const q = listQuery(opts);
      const { grants } = await clientFor(opts).call<{ grants: Grant[] }>('GET', `${pathOf('request.list')}?${q}`);
      if (opts.json) return printJson({ grants });
      const now = new Date();
      out(
        grants.length
          ? table(
              GRANT_HEADERS,
              grants.map((g) => grantRow(g, now)),
            )
          : 'no grants',
      );
    }),
  );

  withBrokerOptions(
    program.command('show').description('a grant and every event on its record').argument('<id>', 'grant id'),
  ).action(async (id: string, opts: BrokerOpts) =>
    run(opts, async () => {
      grantIdArg(id);
      const api = clientFor(opts);
      const { grant } = await api.call<{ grant: Grant }>('GET', pathOf('request.get', { id }));
      const events = await grantEvents(api, id);
      if (opts.json) return printJson({ grant, events });
      out(grantDetails(grant, new Date()));
      out('');
      out(table(EVENT_HEADERS, events.map(eventRow)));
      const ending = endingText(events);
      if (ending) out(`\n${ending.trimEnd()}`);
      const steps = nextSteps(grant);
      if (steps.length) out(['', ...steps].join('\n'));
    }),
  );

  decisionCommand(program, 'approve', 'approve a request waiting for you (never your own)', {
    flag: '--comment',
    required: false,
    help: 'a note for the record',
  });
  decisionCommand(program, 'deny', 'deny a request waiting for you', {
    flag: '--comment',
    required: true,
    help: 'why (required; the requester sees it)',
  });
  decisionCommand(program, 'cancel', 'withdraw your own request before it is active', {
    flag: '--comment',
    required: false,
    help: 'a note for the record',
  });
  decisionCommand(program, 'revoke', 'end a grant now (requester, its approvers, or an admin)', {
    flag: '--reason',
    required: true,
    help: 'why (required; goes on the record)',
  });
}
