import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Timeline, TimelineEntry } from '../../adapters/notify/timeline';
import { DAY, parseDuration } from '../../core/duration';
import type { GrantEvent } from '../../core/grant/events';
import { ApiClient, authFor } from '../client';
import { resolveEndpoint } from '../endpoint';
import { CliError, EXIT } from '../errors';
import { table } from '../format';

/**
 * `timebox audit`: the auditor's commands. `audit <grant>` shows one grant's timeline (lifecycle events and AWS
 * calls, merged); `audit [--grant|--who|--target|--since|--until]` lists lifecycle events; `audit verify` checks
 * every hash chain in a window and exits 1 on any break; `audit export` writes compliance evidence as CSV or JSON.
 * Everything goes through the broker API (GET /v1/audit, /v1/audit/verify, /v1/audit/timeline).
 */

/** The broker refuses audit windows longer than this; longer ranges are split into windows this long. */
export const MAX_WINDOW_MS = 31 * DAY;
/** Page size for /v1/audit (its maximum). */
const PAGE = 1000;

export interface AuditDeps {
  /** The API client for an endpoint flag (tests inject one). */
  client?: (endpoint: string | undefined) => ApiClient;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  out?: (text: string) => void;
}

const defaultClient = (flag: string | undefined) => {
  const endpoint = resolveEndpoint(flag);
  return new ApiClient(endpoint, authFor(endpoint));
};

/** `2026-11-01T00:00:00Z` (ISO-8601 with a zone), or a duration meaning that long ago (`24h`, `7d`). */
export function parseInstant(flag: string, value: string | undefined, now: Date): Date | undefined {
  if (value === undefined) return undefined;
  if (/^\d{4}-\d{2}-\d{2}T/.test(value)) {
    const t = new Date(value);
    if (!Number.isNaN(t.getTime()) && /(Z|[+-]\d{2}:\d{2})$/.test(value)) return t;
  }
  const d = parseDuration(value);
  if (d.ok) return new Date(now.getTime() - d.ms);
  throw new CliError(
    `${flag}: "${value}" is neither an ISO-8601 time with a zone (2026-11-01T00:00:00Z) nor a duration ago (24h, 7d)`,
  );
}

/** [since, until) cut into windows the broker accepts, oldest first. */
export function windows(since: Date, until: Date, max = MAX_WINDOW_MS): { since: Date; until: Date }[] {
  if (since.getTime() >= until.getTime()) throw new CliError('--since must be before --until');
  const out: { since: Date; until: Date }[] = [];
  for (let t = since.getTime(); t < until.getTime(); t += max)
    out.push({ since: new Date(t), until: new Date(Math.min(t + max, until.getTime())) });
  return out;
}

const iso = (d: Date) => d.toISOString();
const query = (params: Record<string, string | number | undefined>) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
};

/** Every lifecycle event matching the filters in [since, until), paging and windowing as the broker requires. */
export async function allEvents(
  api: ApiClient,
  f: { grant?: string; actor?: string; target?: string; since: Date; until: Date },
): Promise<GrantEvent[]> {
  const events: GrantEvent[] = [];
  if (f.grant) {
    let cursor: string | undefined;
    do {
      const page = await api.call<{ events: GrantEvent[]; cursor?: string }>(
        'GET',
        `/v1/audit${query({ grant: f.grant, actor: f.actor, since: iso(f.since), until: iso(f.until), limit: PAGE, cursor })}`,
      );
      events.push(...page.events.filter((e) => !f.target || e.target === f.target));
      cursor = page.cursor;
    } while (cursor);
    return events;
  }
  for (const w of windows(f.since, f.until)) {
    let cursor: string | undefined;
    do {
      const page = await api.call<{ events: GrantEvent[]; cursor?: string }>(
        'GET',
        `/v1/audit${query({ actor: f.actor, target: f.target, since: iso(w.since), until: iso(w.until), limit: PAGE, cursor })}`,
      );
      events.push(...page.events);
      cursor = page.cursor;
    } while (cursor);
  }
  return events;
}

// ---- formats ---------------------------------------------------------------------------------------------------

/** Columns of the CSV export: one row per lifecycle event, the event's own data as JSON. */
export const CSV_COLUMNS = [
  'at',
  'grantId',
  'seq',
  'type',
  'actor',
  'actorKind',
  'target',
  'sourceIp',
  'mfa',
  'data',
  'prevHash',
  'hash',
] as const;

/** RFC 4180: a field with a comma, quote, CR or LF is quoted, quotes doubled; lines end with CRLF. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function toCsv(events: readonly GrantEvent[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const e of events) {
    const cells: Record<(typeof CSV_COLUMNS)[number], string> = {
      at: e.at,
      grantId: e.grantId,
      seq: String(e.seq),
      type: e.type,
      actor: e.actor.id,
      actorKind: e.actor.kind,
      target: e.target,
      sourceIp: e.actor.sourceIp ?? '',
      mfa: e.actor.mfa === undefined ? '' : String(e.actor.mfa),
      data: JSON.stringify(e.data),
      prevHash: e.prevHash,
      hash: e.hash,
    };
    lines.push(CSV_COLUMNS.map((c) => csvField(cells[c])).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

function eventNote(e: GrantEvent): string {
  const d = e.data as Record<string, unknown>;
  const text = d.comment ?? d.reason ?? d.expiresAt ?? (typeof d.decision === 'string' ? d.decision : undefined);
  return typeof text === 'string'
    ? text
    : typeof text === 'object' && text
      ? String((text as { message?: string }).message ?? '')
      : '';
}

/** One line per event for people; the machine formats are --json and `audit export`. */
export function eventsTable(events: readonly GrantEvent[]): string {
  return table(
    ['AT', 'GRANT', 'SEQ', 'EVENT', 'WHO', 'TARGET', 'NOTE'],
    events.map((e) => [e.at, e.grantId, String(e.seq), e.type, e.actor.id, e.target, eventNote(e).slice(0, 60)]),
  );
}

const VIA: Record<string, string> = { 'grant-session': '', chained: ' (chained)', 'same-identity': ' (same identity)' };

/** The merged timeline: time, who, event or action, service, resource, source IP, error code; notes after it. */
export function timelineText(t: Timeline): string {
  const row = (e: TimelineEntry) => [
    e.at,
    e.who,
    `${e.what}${e.via ? VIA[e.via] : ''}`,
    e.service,
    e.resource ?? '',
    e.sourceIp ?? '',
    e.errorCode ?? '',
  ];
  const lines = [
    `Timeline of ${t.grantId}`,
    table(['TIME', 'WHO', 'EVENT/ACTION', 'SERVICE', 'RESOURCE', 'SOURCE IP', 'ERROR'], t.entries.map(row)),
    '',
  ];
  if (t.cloud.status === 'complete' && t.cloud.window)
    lines.push(
      `AWS calls searched from ${t.cloud.window.from} to ${t.cloud.window.until} (Athena ${t.cloud.queryExecutionId}).`,
    );
  if (t.cloud.status === 'running')
    lines.push(
      `AWS calls: the CloudTrail query ${t.cloud.queryExecutionId ?? ''} is still running; run the command again shortly.`,
    );
  if (t.cloud.status === 'failed')
    lines.push(`AWS calls could not be read: ${t.cloud.error?.code}: ${t.cloud.error?.message}`);
  for (const n of t.notes) lines.push(`note: ${n}`);
  return `${lines.join('\n')}\n`;
}

interface VerifyAnswer {
  ok: boolean;
  grants?: number;
  broken?: { grantId: string; breaks: { seq: number; problem: string; message: string }[] }[];
  truncated?: boolean;
  breaks?: { grantId: string; seq: number; problem: string; message: string }[];
  events?: number;
}

// ---- commands --------------------------------------------------------------------------------------------------

export function registerAudit(program: Command, deps: AuditDeps = {}): void {
  const client = deps.client ?? defaultClient;
  const now = deps.now ?? (() => new Date());
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const out = deps.out ?? ((text: string) => process.stdout.write(text));

  // The listing and the timeline are the default subcommand (`audit <grant>` = `audit show <grant>`), so the
  // options of `audit`, `audit verify` and `audit export` never collide.
  const audit = program
    .command('audit')
    .description('the audit record: timelines, event lists, chain verification and evidence export');
  audit
    .command('show', { isDefault: true })
    .description(
      "`audit <grant>` shows one grant's timeline (lifecycle events and AWS calls); without a grant it lists lifecycle events",
    )
    .argument('[grant]', 'grant id: show its merged timeline')
    .option('--grant <id>', 'list the lifecycle events of one grant')
    .option('--who <principal>', 'only events by this actor')
    .option('--target <name>', 'only events on this target')
    .option('--since <time>', 'from (ISO-8601, or a duration ago such as 24h or 7d; default 24h)')
    .option('--until <time>', 'until, exclusive (default now)')
    .option('--wait <duration>', 'how long to wait for a running CloudTrail query (default 1m)', '1m')
    .option('--json', 'print JSON')
    .option('--endpoint <url>', 'broker URL (default TIMEBOX_ENDPOINT, then the local broker)')
    .action(
      async (
        grant: string | undefined,
        opts: {
          grant?: string;
          who?: string;
          target?: string;
          since?: string;
          until?: string;
          wait: string;
          json?: boolean;
          endpoint?: string;
        },
      ) => {
        const api = client(opts.endpoint);
        if (grant !== undefined) {
          if (opts.grant || opts.who || opts.target || opts.since || opts.until)
            throw new CliError(
              '`audit <grant>` shows the whole timeline; use --grant <id> with filters to list events',
            );
          const wait = parseDuration(opts.wait);
          if (!wait.ok) throw new CliError(`--wait: ${wait.message}`);
          const deadline = now().getTime() + wait.ms;
          let t = await api.call<Timeline>('GET', `/v1/audit/timeline${query({ grant })}`);
          for (let attempt = 0; t.cloud.status === 'running' && now().getTime() < deadline; attempt++) {
            await sleep(Math.min(10_000, 2000 * 2 ** attempt));
            t = await api.call<Timeline>('GET', `/v1/audit/timeline${query({ grant })}`);
          }
          out(opts.json ? `${JSON.stringify(t)}\n` : timelineText(t));
          // An auditor must not read a partial answer as a complete one.
          if (t.cloud.status === 'running' || t.cloud.status === 'failed') process.exitCode = EXIT.unavailable;
          return;
        }
        const until = parseInstant('--until', opts.until, now()) ?? now();
        const since = parseInstant('--since', opts.since, now()) ?? new Date(until.getTime() - DAY);
        const events = await allEvents(api, {
          ...(opts.grant ? { grant: opts.grant } : {}),
          ...(opts.who ? { actor: opts.who } : {}),
          ...(opts.target ? { target: opts.target } : {}),
          since,
          until,
        });
        out(opts.json ? `${JSON.stringify(events)}\n` : events.length ? `${eventsTable(events)}\n` : 'no events\n');
      },
    );

  audit
    .command('verify')
    .description('verify the hash chain of every grant with events in a window (or of one grant); exit 1 on any break')
    .option('--grant <id>', 'verify one grant')
    .option('--since <time>', 'from (ISO-8601 or a duration ago; default 24h)')
    .option('--until <time>', 'until, exclusive (default now)')
    .option('--json', 'print JSON')
    .option('--endpoint <url>', 'broker URL')
    .action(async (opts: { grant?: string; since?: string; until?: string; json?: boolean; endpoint?: string }) => {
      const api = client(opts.endpoint);
      const broken: { grantId: string; seq: number; problem: string; message: string }[] = [];
      let grants = 0;
      if (opts.grant) {
        const r = await api.call<VerifyAnswer>('GET', `/v1/audit/verify${query({ grant: opts.grant })}`);
        grants = 1;
        for (const b of r.breaks ?? []) broken.push({ ...b, grantId: b.grantId ?? opts.grant });
      } else {
        const until = parseInstant('--until', opts.until, now()) ?? now();
        const since = parseInstant('--since', opts.since, now()) ?? new Date(until.getTime() - DAY);
        // The broker verifies at most 1,000 grants per call and says when it stopped: such a window is halved.
        const queue = windows(since, until);
        while (queue.length > 0) {
          const w = queue.shift() as { since: Date; until: Date };
          const r = await api.call<VerifyAnswer>(
            'GET',
            `/v1/audit/verify${query({ since: iso(w.since), until: iso(w.until) })}`,
          );
          if (r.truncated) {
            const mid = new Date(Math.floor((w.since.getTime() + w.until.getTime()) / 2));
            if (mid.getTime() <= w.since.getTime() || w.until.getTime() - w.since.getTime() < 60_000)
              throw new CliError(`too many grants between ${iso(w.since)} and ${iso(w.until)} to verify`, EXIT.failed);
            queue.unshift({ since: w.since, until: mid }, { since: mid, until: w.until });
            continue;
          }
          grants += r.grants ?? 0;
          for (const g of r.broken ?? []) for (const b of g.breaks) broken.push({ ...b, grantId: g.grantId });
        }
      }
      if (opts.json) out(`${JSON.stringify({ ok: broken.length === 0, grants, broken })}\n`);
      else {
        for (const b of broken) out(`BROKEN ${b.grantId} seq ${b.seq} ${b.problem}: ${b.message}\n`);
        out(
          broken.length === 0
            ? `verified ${grants} grant${grants === 1 ? '' : 's'}: every chain is intact\n`
            : `${broken.length} break${broken.length === 1 ? '' : 's'} in ${new Set(broken.map((b) => b.grantId)).size} of ${grants} grants\n`,
        );
      }
      process.exitCode = broken.length === 0 ? EXIT.ok : EXIT.failed;
    });

  audit
    .command('export')
    .description(
      'write lifecycle events as compliance evidence: CSV (RFC 4180, with a header), a JSON array, or JSON lines',
    )
    .requiredOption('--format <format>', 'csv, json (one array) or jsonl (one event per line)')
    .requiredOption('--since <time>', 'from (ISO-8601, or a duration ago such as 30d)')
    .option('--until <time>', 'until, exclusive (default now)')
    .option('--actor <principal>', 'only events by this actor')
    .option('--who <principal>', 'same as --actor')
    .option('--target <name>', 'only events on this target')
    .option('--out <file>', 'write to this file (mode 0600) instead of standard output')
    .option('--endpoint <url>', 'broker URL')
    .action(
      async (opts: {
        format: string;
        since: string;
        until?: string;
        actor?: string;
        who?: string;
        target?: string;
        out?: string;
        endpoint?: string;
      }) => {
        if (!['csv', 'json', 'jsonl'].includes(opts.format))
          throw new CliError(`--format: "${opts.format}" is not csv, json or jsonl`);
        if (opts.actor && opts.who && opts.actor !== opts.who) throw new CliError('--actor and --who disagree');
        const until = parseInstant('--until', opts.until, now()) ?? now();
        const since = parseInstant('--since', opts.since, now()) as Date;
        const actor = opts.actor ?? opts.who;
        const events = await allEvents(client(opts.endpoint), {
          ...(actor ? { actor } : {}),
          ...(opts.target ? { target: opts.target } : {}),
          since,
          until,
        });
        const text =
          opts.format === 'csv'
            ? toCsv(events)
            : opts.format === 'json'
              ? `${JSON.stringify(events, null, 2)}\n`
              : events.map((e) => `${JSON.stringify(e)}\n`).join('');
        if (opts.out) {
          // Audit evidence names people and what they accessed: readable by its owner only.
          writeFileSync(opts.out, text, { mode: 0o600 });
          process.stderr.write(`timebox: wrote ${events.length} events to ${opts.out}\n`);
        } else out(text);
      },
    );
}
