import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Timeline, TimelineEntry } from '../../adapters/notify/timeline';
import { pathOf } from '../../api/routes';
import { DAY, parseDuration } from '../../core/duration';
import type { GrantEvent } from '../../core/grant/events';
import { eventSummary } from '../../core/grant/summary';
import { ApiClient, authFor, BrokerError } from '../client';
import { endingText } from '../ending';
import { resolveEndpoint } from '../endpoint';
import { CliError, EXIT } from '../errors';
import { clip, printable, safeJson, table } from '../format';
import { grantEvents } from './grants';

/**
 * `timebox audit`: the auditor's commands. `audit <grant>` shows one grant's timeline (lifecycle events and AWS
 * calls, merged); `audit [--grant|--who|--target|--since|--until]` lists lifecycle events; `audit verify` checks
 * every hash chain in a window and exits 1 on any break; `audit export` writes compliance evidence as CSV or JSON;
 * `audit witness` compares the hashes the bus carried (its archive, a SIEM export) with the audit record.
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
        `${pathOf('audit.list')}${query({ grant: f.grant, actor: f.actor, since: iso(f.since), until: iso(f.until), limit: PAGE, cursor })}`,
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
        `${pathOf('audit.list')}${query({ actor: f.actor, target: f.target, since: iso(w.since), until: iso(w.until), limit: PAGE, cursor })}`,
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

/** One line per event for people; the machine formats are --json and `audit export`. */
export function eventsTable(events: readonly GrantEvent[]): string {
  return table(
    ['AT', 'GRANT', 'SEQ', 'EVENT', 'WHO', 'TARGET', 'NOTE'],
    events.map((e) => [
      e.at,
      e.grantId,
      String(e.seq),
      e.type,
      e.actor.id,
      e.target,
      clip(eventSummary(e, 'note'), 60),
    ]),
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
    `Timeline of ${printable(t.grantId)}`,
    table(['TIME', 'WHO', 'EVENT/ACTION', 'SERVICE', 'RESOURCE', 'SOURCE IP', 'ERROR'], t.entries.map(row)),
    '',
  ];
  if (t.cloud.status === 'complete' && t.cloud.window)
    lines.push(
      printable(
        `AWS calls searched from ${t.cloud.window.from} to ${t.cloud.window.until} (Athena ${t.cloud.queryExecutionId}).`,
      ),
    );
  if (t.cloud.status === 'running')
    lines.push(
      `AWS calls: the CloudTrail query ${printable(t.cloud.queryExecutionId ?? '')} is still running; run the command again shortly.`,
    );
  if (t.cloud.status === 'failed')
    lines.push(`AWS calls could not be read: ${printable(`${t.cloud.error?.code}: ${t.cloud.error?.message}`)}`);
  for (const n of t.notes) lines.push(`note: ${printable(n)}`);
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

/** How the grant ended (../ending.ts), read from its events; the timeline above already stands without it. */
async function endingSummary(api: ApiClient, grant: string): Promise<string> {
  try {
    const ending = endingText(await grantEvents(api, grant));
    return ending ? `\n${ending}` : '';
  } catch (e) {
    return `\n(how it ended: events unreadable: ${e instanceof Error ? e.message : String(e)})\n`;
  }
}

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
          let t = await api.call<Timeline>('GET', `${pathOf('audit.timeline')}${query({ grant })}`);
          for (let attempt = 0; t.cloud.status === 'running' && now().getTime() < deadline; attempt++) {
            await sleep(Math.min(10_000, 2000 * 2 ** attempt));
            t = await api.call<Timeline>('GET', `${pathOf('audit.timeline')}${query({ grant })}`);
          }
          out(opts.json ? `${safeJson(t)}\n` : timelineText(t));
          if (
            !opts.json &&
            t.entries.some((e) => e.kind === 'lifecycle' && (e.what === 'revoked' || e.what === 'expired'))
          )
            out(await endingSummary(api, grant));
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
        out(opts.json ? `${safeJson(events)}\n` : events.length ? `${eventsTable(events)}\n` : 'no events\n');
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
        const r = await api.call<VerifyAnswer>('GET', `${pathOf('audit.verify')}${query({ grant: opts.grant })}`);
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
            `${pathOf('audit.verify')}${query({ since: iso(w.since), until: iso(w.until) })}`,
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
      if (opts.json) out(`${safeJson({ ok: broken.length === 0, grants, broken })}\n`);
      else {
        for (const b of broken) out(`${printable(`BROKEN ${b.grantId} seq ${b.seq} ${b.problem}: ${b.message}`)}\n`);
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
              ? `${safeJson(events, 2)}\n`
              : events.map((e) => `${safeJson(e)}\n`).join('');
        if (opts.out) {
          // Audit evidence names people and what they accessed: readable by its owner only.
          writeFileSync(opts.out, text, { mode: 0o600 });
          // `mode` applies only when the file is created: an existing file is made owner-only too.
          chmodSync(opts.out, 0o600);
          process.stderr.write(`timebox: wrote ${events.length} events to ${opts.out}\n`);
        } else out(text);
      },
    );

  audit
    .command('witness')
    .description(
      'compare the chain hashes the event bus carried (an export of its archive or a SIEM, JSON lines or an array) with the audit record; exit 1 on any difference',
    )
    .requiredOption('--file <path>', 'the exported bus events (EventBridge events or their details)')
    .option('--json', 'print JSON')
    .option('--endpoint <url>', 'broker URL')
    .action(async (opts: { file: string; json?: boolean; endpoint?: string }) => {
      let text: string;
      try {
        text = readFileSync(opts.file, 'utf8');
      } catch (e) {
        throw new CliError(`--file: cannot read ${opts.file}: ${e instanceof Error ? e.message : String(e)}`);
      }
      const { records, skipped } = parseWitness(text);
      const api = client(opts.endpoint);
      const findings = await compareWitness(records, async (id) => {
        try {
          return await grantEvents(api, id);
        } catch (e) {
          // A grant the record no longer holds at all: every witnessed event of it is missing.
          if (e instanceof BrokerError && e.status === 404) return [];
          throw e;
        }
      });
      const grants = new Set(records.map((r) => r.grantId)).size;
      if (opts.json)
        out(`${safeJson({ ok: findings.length === 0, events: records.length, grants, skipped, findings })}\n`);
      else {
        for (const f of findings) out(`${printable(`DIFFERS ${f.grantId} seq ${f.seq} ${f.problem}: ${f.message}`)}\n`);
        out(
          findings.length === 0
            ? `${records.length} witnessed events of ${grants} grants match the audit record${skipped ? ` (${skipped} records without a chain hash skipped)` : ''}\n`
            : `${findings.length} difference${findings.length === 1 ? '' : 's'} between the witness and the audit record\n`,
        );
      }
      process.exitCode = findings.length === 0 ? EXIT.ok : EXIT.failed;
    });
}

/** What the bus carried for one event of a grant. */
export interface WitnessRecord {
  grantId: string;
  seq: number;
  hash: string;
}

export interface WitnessFinding {
  grantId: string;
  seq: number;
  problem: 'missing' | 'rewritten' | 'conflicting-witness';
  message: string;
}

/**
 * Reads exported bus events: JSON lines or one JSON array, each an EventBridge event (`detail`, possibly as a JSON
 * string) or a bare detail. Records without a grant, sequence and chain hash (other notices) are counted as skipped.
 * A line that is not JSON is an error naming the line.
 */
export function parseWitness(text: string): { records: WitnessRecord[]; skipped: number } {
  const trimmed = text.trim();
  let items: unknown[];
  if (trimmed.startsWith('[')) {
    try {
      items = JSON.parse(trimmed) as unknown[];
    } catch {
      throw new CliError('--file: the file starts with [ but is not a JSON array');
    }
    if (!Array.isArray(items)) throw new CliError('--file: the file starts with [ but is not a JSON array');
  } else {
    items = [];
    trimmed.split('\n').forEach((line, i) => {
      if (!line.trim()) return;
      try {
        items.push(JSON.parse(line));
      } catch {
        throw new CliError(`--file: line ${i + 1} is not JSON`);
      }
    });
  }
  const records: WitnessRecord[] = [];
  let skipped = 0;
  for (const item of items) {
    let detail = (item as { detail?: unknown } | null)?.detail ?? item;
    if (typeof detail === 'string') {
      try {
        detail = JSON.parse(detail);
      } catch {
        detail = undefined;
      }
    }
    const d = detail as { grantId?: unknown; seq?: unknown; hash?: unknown } | undefined;
    if (
      typeof d?.grantId === 'string' &&
      Number.isInteger(d.seq) &&
      (d.seq as number) > 0 &&
      typeof d.hash === 'string' &&
      /^[0-9a-f]{64}$/.test(d.hash)
    )
      records.push({ grantId: d.grantId, seq: d.seq as number, hash: d.hash });
    else skipped++;
  }
  return { records, skipped };
}

/**
 * Compares witnessed hashes with the audit record, grant by grant: an event the record lacks is `missing`, one with
 * another hash was `rewritten`, and a witness holding two hashes for one event is itself inconsistent. The bus is
 * at-least-once, so the same record twice is fine.
 */
export async function compareWitness(
  records: readonly WitnessRecord[],
  eventsOf: (grantId: string) => Promise<GrantEvent[]>,
): Promise<WitnessFinding[]> {
  const byGrant = new Map<string, Map<number, Set<string>>>();
  for (const r of records) {
    const seqs = byGrant.get(r.grantId) ?? new Map<number, Set<string>>();
    byGrant.set(r.grantId, seqs);
    const hashes = seqs.get(r.seq) ?? new Set<string>();
    seqs.set(r.seq, hashes);
    hashes.add(r.hash);
  }
  const findings: WitnessFinding[] = [];
  for (const [grantId, seqs] of byGrant) {
    const stored = new Map((await eventsOf(grantId)).map((e) => [e.seq, e.hash]));
    for (const [seq, hashes] of [...seqs].sort((a, b) => a[0] - b[0])) {
      if (hashes.size > 1) {
        findings.push({
          grantId,
          seq,
          problem: 'conflicting-witness',
          message: `the witness holds ${hashes.size} different hashes for this event`,
        });
        continue;
      }
      const witnessed = [...hashes][0] as string;
      const hash = stored.get(seq);
      if (hash === undefined)
        findings.push({
          grantId,
          seq,
          problem: 'missing',
          message: 'the bus carried this event; the audit record lacks it',
        });
      else if (hash !== witnessed)
        findings.push({
          grantId,
          seq,
          problem: 'rewritten',
          message: `the audit record holds ${hash.slice(0, 12)}..., the bus carried ${witnessed.slice(0, 12)}...`,
        });
    }
  }
  return findings;
}
