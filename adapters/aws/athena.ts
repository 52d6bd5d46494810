import {
  type AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  type Row,
  StartQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { canonicalJson, sha256Hex } from '../../core/canonical';
import { TimeboxError, UnavailableError, ValidationError } from '../../core/errors';
import type { GrantEvent } from '../../core/grant/events';
import type { Grant } from '../../core/grant/state';
import { GRANT_ID_PATTERN } from '../../core/ids';
import { awsCall } from './errors';

/**
 * "Who did what with this grant": the AWS calls made under a grant, read from the stack's CloudTrail table
 * (stacks/athena.ts: Glue table `cloudtrail`, partition projection over `region` and `timestamp` = yyyy/MM/dd)
 * with Athena, and merged with the grant's lifecycle events into one timeline.
 *
 * Every session the broker opens for a grant is `AssumeRole` with `SourceIdentity=<principal>` and
 * `RoleSessionName=<grant id>` (adapters/aws/sts.ts). CloudTrail records both on every call made with it
 * (`useridentity.arn` ends in the session name; `sessioncontext.sourceidentity` is the principal), and the source
 * identity survives role chaining, so a role assumed *from* the grant's session carries it too.
 */

/** CloudTrail delivers log files about 5 minutes after the calls (CloudTrail User Guide, "How CloudTrail works"). */
export const CLOUDTRAIL_LAG_NOTE =
  'CloudTrail delivers events about 5 minutes after the call (sometimes longer): the last minutes of a grant may not be here yet.';
/** The stack's trail records management events and writes to the audit table only (stacks/audit.ts). */
export const DATA_EVENTS_NOTE =
  'Data events (S3 object reads and writes, Lambda invocations, DynamoDB item calls...) appear only if the trail records them; the Timebox trail records management events only.';
export const NOT_CONFIGURED_NOTE =
  'Cloud actions are not available here (no Athena workgroup is configured, as in local mode): lifecycle events only.';
export const NOT_APPLICABLE_NOTE =
  'This grant is not for an AWS role, or it never became active: there are no AWS calls to show.';

/** Calls this long before activation are looked at too (clock skew between CloudTrail and the broker). */
export const WINDOW_BEFORE_MS = 60_000;
/** ...and this long after the grant ended or expired (credential refresh and in-flight calls at the boundary). */
export const WINDOW_AFTER_MS = 15 * 60_000;

export interface AthenaSettings {
  workgroup: string;
  database: string;
  /** Glue table (default `cloudtrail`). */
  table?: string;
  /** Regions the table projects (its `projection.region.values`); every one is queried, nothing else. */
  regions: string[];
}

/** How a call is tied to the grant. */
export type Attribution =
  /** Made with the grant's own session: the target role, session name = grant id. */
  | 'grant-session'
  /** Made with a session the grant's session (or one chained from it) assumed: linked through AssumeRole. */
  | 'chained'
  /** Made by a session carrying the principal as source identity in the window, not linked to the grant's session. */
  | 'same-identity';

export interface CloudAction {
  at: string;
  /** Who made the call: the source identity, or the requester for the grant's own session when CloudTrail recorded none. */
  actor: string;
  eventId: string;
  eventSource: string;
  eventName: string;
  region: string;
  account?: string;
  sourceIp?: string;
  userAgent?: string;
  errorCode?: string;
  errorMessage?: string;
  identityType?: string;
  /** The session that made the call (`arn:aws:sts::<account>:assumed-role/<role>/<session>`). */
  identityArn?: string;
  sessionName?: string;
  sourceIdentity?: string;
  /** The role behind the session (`sessioncontext.sessionissuer.arn`). */
  roleArn?: string;
  resources: string[];
  readOnly?: boolean;
  via: Attribution;
}

export interface CloudActionsResult {
  queryExecutionId: string;
  window: { from: string; until: string };
  actions: CloudAction[];
  /** More rows matched than are returned. */
  truncated: boolean;
}

/** Where to look: [activatedAt - 1 min, latest of endedAt/expiresAt/last credential expiry + 15 min); undefined if never active. */
export function cloudTrailWindow(g: Grant): { from: Date; until: Date } | undefined {
  if (!g.activatedAt) return undefined;
  const ends = [g.endedAt, g.expiresAt, g.lastCredentialExpiresAt]
    .filter((s): s is string => typeof s === 'string')
    .map((s) => Date.parse(s));
  if (ends.length === 0) return undefined;
  return {
    from: new Date(Date.parse(g.activatedAt) - WINDOW_BEFORE_MS),
    until: new Date(Math.max(...ends) + WINDOW_AFTER_MS),
  };
}

/** `yyyy/MM/dd` (UTC), the format of the `timestamp` partition projection. */
export function partitionDay(d: Date): string {
  return d.toISOString().slice(0, 10).replace(/-/g, '/');
}

/** CloudTrail's eventtime format: ISO-8601 UTC to the second (`2026-11-24T10:00:05Z`), so strings sort as times. */
export function eventTime(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

/**
 * A value for Athena `ExecutionParameters`. Parameters are substituted as SQL literals, so a string goes in single
 * quotes with any quote doubled; the values here are also validated before (principal ids and grant ids have
 * fixed alphabets), so this is the second of two guards. Control characters are refused outright.
 */
export function sqlString(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find control characters
  if (/[\x00-\x1f\x7f]/.test(value))
    throw new ValidationError('AUDIT.INVALID_PARAMETER', 'a query value has control characters');
  return `'${value.replace(/'/g, "''")}'`;
}

const IDENT = /^[A-Za-z0-9_]{1,255}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

export interface TimelineQuery {
  queryString: string;
  executionParameters: string[];
}

/** How many rows a timeline shows at most (a Lambda response is at most 6 MB). */
export const MAX_ACTIONS = 5000;

/**
 * The SQL and its parameters for one grant. Identifiers (database, table) come from the stack's configuration and
 * are checked against Glue's alphabet; every value (regions, days, times, principal, grant id) is a parameter.
 * The region and day bounds prune partitions (what Athena reads and bills); the eventtime bounds are exact.
 */
export function timelineQuery(
  s: AthenaSettings,
  g: { grantId: string; principal: string; from: Date; until: Date },
  limit = MAX_ACTIONS,
): TimelineQuery {
  const table = s.table ?? 'cloudtrail';
  if (!IDENT.test(s.database) || !IDENT.test(table))
    throw new ValidationError('AUDIT.CONFIG', 'the Athena database and table must be Glue names (letters, digits, _)');
  const regions = [...new Set(s.regions)].sort();
  if (regions.length === 0 || !regions.every((r) => REGION.test(r)))
    throw new ValidationError('AUDIT.CONFIG', 'the audit regions must be region names like eu-west-1');
  if (!GRANT_ID_PATTERN.test(g.grantId)) throw new ValidationError('AUDIT.INVALID_PARAMETER', 'not a grant id');
  const queryString = `SELECT eventid, eventtime, eventsource, eventname, awsregion, recipientaccountid,
  sourceipaddress, useragent, errorcode, errormessage, readonly,
  useridentity.type AS identity_type,
  useridentity.arn AS identity_arn,
  useridentity.principalid AS principal_id,
  useridentity.sessioncontext.sourceidentity AS source_identity,
  useridentity.sessioncontext.sessionissuer.arn AS issuer_arn,
  array_join(transform(resources, r -> r.arn), ' ') AS resource_arns,
  CASE WHEN eventname = 'AssumeRole' THEN json_extract_scalar(responseelements, '$.assumedRoleUser.arn') END AS assumed_arn
FROM "${s.database}"."${table}"
WHERE region IN (${regions.map(() => '?').join(', ')})
  AND "timestamp" BETWEEN ? AND ?
  AND eventtime >= ? AND eventtime < ?
  AND (useridentity.sessioncontext.sourceidentity = ?
    OR element_at(split(useridentity.arn, '/'), -1) = ?)
ORDER BY eventtime, eventid
LIMIT ${Math.max(1, Math.floor(limit)) + 1}`;
  return {
    queryString,
    executionParameters: [
      ...regions,
      partitionDay(g.from),
      partitionDay(g.until),
      eventTime(g.from),
      eventTime(g.until),
      g.principal,
      g.grantId,
    ].map(sqlString),
  };
}

/** One result row by column name; absent values (SQL NULL) are undefined. */
export type ResultRow = Record<string, string | undefined>;

function rowValues(row: Row): (string | undefined)[] {
  return (row.Data ?? []).map((d) => d.VarCharValue);
}

/** The session name of an assumed-role identity: the last part of its ARN, else what follows ':' in its principal id. */
export function sessionNameOf(r: ResultRow): string | undefined {
  const arn = r.identity_arn;
  if (arn?.includes(':assumed-role/')) return arn.split('/').pop();
  const pid = r.principal_id;
  return pid?.includes(':') ? pid.slice(pid.indexOf(':') + 1) : undefined;
}

/**
 * Ties rows to the grant. Own session: the grant's target role and session name = grant id. Chained: a session
 * whose ARN an AssumeRole made from the own session (or from a chained one) returned, carrying the same source
 * identity. Same identity: the source identity matches but nothing links the session to the grant (another tool
 * of the same person could set the same source identity); shown, marked so. A session named after *another*
 * grant id belongs to that grant's timeline and is left out.
 */
export function attribute(
  rows: ResultRow[],
  g: { grantId: string; principal: string; roleArn?: string },
): CloudAction[] {
  const sorted = [...rows].sort(
    (a, b) => (a.eventtime ?? '').localeCompare(b.eventtime ?? '') || (a.eventid ?? '').localeCompare(b.eventid ?? ''),
  );
  const chained = new Set<string>();
  const out: CloudAction[] = [];
  for (const r of sorted) {
    if (!r.eventtime || !r.eventid) continue;
    const session = sessionNameOf(r);
    const own = session === g.grantId && (!g.roleArn || r.issuer_arn === g.roleArn);
    const sameIdentity = r.source_identity === g.principal;
    let via: Attribution | undefined;
    if (own) via = 'grant-session';
    else if (sameIdentity && r.identity_arn && chained.has(r.identity_arn)) via = 'chained';
    else if (sameIdentity && !(session && GRANT_ID_PATTERN.test(session))) via = 'same-identity';
    if (!via) continue;
    if ((via === 'grant-session' || via === 'chained') && r.eventname === 'AssumeRole' && r.assumed_arn && !r.errorcode)
      chained.add(r.assumed_arn);
    const actor = r.source_identity ?? (via === 'grant-session' ? g.principal : (session ?? r.identity_arn ?? '?'));
    out.push(cloudAction(r, via, session, actor));
  }
  return out;
}

function cloudAction(r: ResultRow, via: Attribution, session: string | undefined, actor: string): CloudAction {
  const opt = (k: keyof CloudAction, v: string | undefined) => (v ? { [k]: v } : {});
  return {
    at: r.eventtime as string,
    actor,
    eventId: r.eventid as string,
    eventSource: r.eventsource ?? '',
    eventName: r.eventname ?? '',
    region: r.awsregion ?? '',
    ...opt('account', r.recipientaccountid),
    ...opt('sourceIp', r.sourceipaddress),
    ...opt('userAgent', r.useragent),
    ...opt('errorCode', r.errorcode),
    ...opt('errorMessage', r.errormessage),
    ...opt('identityType', r.identity_type),
    ...opt('identityArn', r.identity_arn),
    ...opt('sessionName', session),
    ...opt('sourceIdentity', r.source_identity),
    ...opt('roleArn', r.issuer_arn),
    resources: (r.resource_arns ?? '').split(' ').filter(Boolean),
    ...(r.readonly === undefined ? {} : { readOnly: r.readonly === 'true' }),
    via,
  } as CloudAction;
}

export interface CloudTrailActionsOptions {
  /** How long one call waits for the query before giving up with AUDIT.QUERY_TIMEOUT (default 20 s, inside API Gateway's 29 s). */
  deadlineMs?: number;
  maxRows?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Athena polling: 250 ms, then doubling to at most 2 s. */
export function pollDelay(attempt: number): number {
  return Math.min(2000, 250 * 2 ** attempt);
}

/** The cloud actions of one grant from CloudTrail through Athena. */
export class CloudTrailActions {
  private readonly deadlineMs: number;
  private readonly maxRows: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;

  constructor(
    private readonly client: Pick<AthenaClient, 'send'>,
    private readonly settings: AthenaSettings,
    opts: CloudTrailActionsOptions = {},
  ) {
    this.deadlineMs = opts.deadlineMs ?? 20_000;
    this.maxRows = opts.maxRows ?? MAX_ACTIONS;
    this.sleep = opts.sleep ?? defaultSleep;
    this.now = opts.now ?? Date.now;
  }

  /**
   * Starts (or finds) the grant's query, waits for it up to the deadline, and pages through the results. The start
   * is idempotent: the client request token is derived from the grant, its window and the current 5-minute slot,
   * so a caller who hit AUDIT.QUERY_TIMEOUT and asks again within the slot picks up the same query instead of
   * starting another, and a later slot sees what CloudTrail delivered since.
   */
  async forGrant(g: Grant): Promise<CloudActionsResult | undefined> {
    const window = cloudTrailWindow(g);
    if (!window || g.target.kind !== 'aws-role') return undefined;
    const q = timelineQuery(
      this.settings,
      { grantId: g.id, principal: g.requester.id, from: window.from, until: window.until },
      this.maxRows,
    );
    const slot = Math.floor(this.now() / (5 * 60_000));
    const token = sha256Hex(canonicalJson({ g: g.id, q: q.queryString, p: q.executionParameters, slot }));
    const id = await this.start(q, token);
    await this.wait(id);
    const { rows, truncated } = await this.results(id);
    return {
      queryExecutionId: id,
      window: { from: window.from.toISOString(), until: window.until.toISOString() },
      actions: attribute(rows, {
        grantId: g.id,
        principal: g.requester.id,
        ...(g.target.kind === 'aws-role' ? { roleArn: g.target.roleArn } : {}),
      }),
      truncated,
    };
  }

  private async start(q: TimelineQuery, token: string): Promise<string> {
    const out = await awsCall('athena:StartQueryExecution', this.settings.workgroup, () =>
      this.client.send(
        new StartQueryExecutionCommand({
          QueryString: q.queryString,
          ExecutionParameters: q.executionParameters,
          QueryExecutionContext: { Database: this.settings.database },
          WorkGroup: this.settings.workgroup,
          ClientRequestToken: token,
        }),
      ),
    );
    if (!out.QueryExecutionId)
      throw new UnavailableError('AUDIT.QUERY_FAILED', 'athena:StartQueryExecution returned no query id');
    return out.QueryExecutionId;
  }

  private async wait(id: string): Promise<void> {
    const deadline = this.now() + this.deadlineMs;
    for (let attempt = 0; ; attempt++) {
      const out = await awsCall('athena:GetQueryExecution', id, () =>
        this.client.send(new GetQueryExecutionCommand({ QueryExecutionId: id })),
      );
      const status = out.QueryExecution?.Status;
      switch (status?.State) {
        case 'SUCCEEDED':
          return;
        case 'FAILED':
          throw new UnavailableError(
            'AUDIT.QUERY_FAILED',
            `the CloudTrail query ${id} failed: ${status.AthenaError?.ErrorMessage ?? status.StateChangeReason ?? 'no reason given'}`,
          );
        case 'CANCELLED':
          throw new UnavailableError('AUDIT.QUERY_CANCELLED', `the CloudTrail query ${id} was cancelled`);
      }
      const delay = pollDelay(attempt);
      if (this.now() + delay > deadline)
        throw new TimeboxError(
          'unavailable',
          'AUDIT.QUERY_TIMEOUT',
          `the CloudTrail query ${id} is still running after ${Math.round(this.deadlineMs / 1000)}s; ask again shortly (the same query is picked up)`,
          { details: { queryExecutionId: id } },
        );
      await this.sleep(delay);
    }
  }

  private async results(id: string): Promise<{ rows: ResultRow[]; truncated: boolean }> {
    const rows: ResultRow[] = [];
    let columns: string[] | undefined;
    let next: string | undefined;
    let first = true;
    do {
      const token = next;
      const out = await awsCall('athena:GetQueryResults', id, () =>
        this.client.send(
          new GetQueryResultsCommand({
            QueryExecutionId: id,
            MaxResults: 1000,
            ...(token ? { NextToken: token } : {}),
          }),
        ),
      );
      columns ??= (out.ResultSet?.ResultSetMetadata?.ColumnInfo ?? []).map((c) => c.Name ?? '');
      const page = out.ResultSet?.Rows ?? [];
      // The first row of a SELECT's first page repeats the column names.
      const data = first && page.length > 0 && sameColumns(rowValues(page[0] as Row), columns) ? page.slice(1) : page;
      first = false;
      for (const row of data) {
        const values = rowValues(row);
        rows.push(Object.fromEntries((columns ?? []).map((c, i) => [c, values[i]])));
      }
      next = out.NextToken;
    } while (next && rows.length <= this.maxRows);
    return rows.length > this.maxRows
      ? { rows: rows.slice(0, this.maxRows), truncated: true }
      : { rows, truncated: false };
  }
}

function sameColumns(values: (string | undefined)[], columns: string[]): boolean {
  return values.length === columns.length && values.every((v, i) => v === columns[i]);
}

// ---- the merged timeline ------------------------------------------------------------------------------------

export interface TimelineEntry {
  at: string;
  kind: 'lifecycle' | 'cloud';
  who: string;
  /** Lifecycle event type, or the AWS API call (`s3:ListBucket`). */
  what: string;
  /** `timebox` for lifecycle events, the AWS service (`s3`, `sts`...) for calls. */
  service: string;
  resource?: string;
  sourceIp?: string;
  errorCode?: string;
  /** Lifecycle: the event's sequence number; cloud: the CloudTrail event id. */
  seq?: number;
  eventId?: string;
  via?: Attribution;
  region?: string;
  /** A short description: the comment, reason or expiry an event carries. */
  note?: string;
}

/** `s3.amazonaws.com` -> `s3`. */
export function serviceOf(eventSource: string): string {
  return eventSource.replace(/\.amazonaws\.com$/, '');
}

function lifecycleNote(e: GrantEvent): string | undefined {
  switch (e.type) {
    case 'requested':
      return `${e.data.decision}${e.data.rule ? ` by rule ${e.data.rule}` : ''}: ${e.data.reason}`;
    case 'approved':
      return `${e.data.approvals}/${e.data.required}${e.data.comment ? `: ${e.data.comment}` : ''}`;
    case 'denied':
      return e.data.comment;
    case 'cancelled':
      return e.data.comment;
    case 'lapsed':
      return e.data.reason.message;
    case 'activated':
      return `until ${e.data.expiresAt}`;
    case 'credentials-issued':
      return `${e.data.kind} until ${e.data.expiresAt}`;
    case 'revoked':
      return e.data.reason;
    case 'expired':
      return `at ${e.data.expiresAt}`;
    case 'access-failed':
      return `${e.data.step}: ${e.data.error.message}`;
    default:
      return undefined;
  }
}

export function lifecycleEntry(e: GrantEvent): TimelineEntry {
  const note = lifecycleNote(e);
  return {
    at: e.at,
    kind: 'lifecycle',
    who: e.actor.id,
    what: e.type,
    service: 'timebox',
    resource: e.target,
    ...(e.actor.sourceIp ? { sourceIp: e.actor.sourceIp } : {}),
    ...(e.type === 'access-failed' ? { errorCode: e.data.error.code } : {}),
    seq: e.seq,
    ...(note ? { note } : {}),
  };
}

export function cloudEntry(a: CloudAction): TimelineEntry {
  const service = serviceOf(a.eventSource);
  return {
    at: a.at,
    kind: 'cloud',
    who: a.actor,
    what: `${service}:${a.eventName}`,
    service,
    ...(a.resources.length > 0 ? { resource: a.resources.join(' ') } : {}),
    ...(a.sourceIp ? { sourceIp: a.sourceIp } : {}),
    ...(a.errorCode ? { errorCode: a.errorCode } : {}),
    eventId: a.eventId,
    via: a.via,
    region: a.region,
  };
}

/**
 * Lifecycle events and cloud calls in time order. CloudTrail times are whole seconds while lifecycle events have
 * milliseconds, so both are compared to the second first; within one second lifecycle events come first (a call
 * cannot precede the credentials it was made with), then each kind keeps its own order (seq, then CloudTrail
 * time and event id).
 */
export function mergeTimeline(events: readonly GrantEvent[], actions: readonly CloudAction[]): TimelineEntry[] {
  const entries = [...events.map(lifecycleEntry), ...actions.map(cloudEntry)];
  const second = (e: TimelineEntry) => Math.floor(Date.parse(e.at) / 1000);
  return entries.sort(
    (a, b) =>
      second(a) - second(b) ||
      (a.kind === b.kind ? 0 : a.kind === 'lifecycle' ? -1 : 1) ||
      Date.parse(a.at) - Date.parse(b.at) ||
      (a.seq ?? 0) - (b.seq ?? 0) ||
      (a.eventId ?? '').localeCompare(b.eventId ?? ''),
  );
}

export type CloudStatus = 'complete' | 'running' | 'failed' | 'not-configured' | 'not-applicable';

export interface Timeline {
  grantId: string;
  entries: TimelineEntry[];
  cloud: {
    status: CloudStatus;
    window?: { from: string; until: string };
    queryExecutionId?: string;
    truncated?: boolean;
    error?: { code: string; message: string };
  };
  notes: string[];
}

/** Reads the cloud side of a grant's timeline; the API injects it (absent locally). */
export interface CloudActionSource {
  forGrant(g: Grant): Promise<CloudActionsResult | undefined>;
}

/**
 * The whole timeline of one grant: its lifecycle events always (the source of truth), plus its AWS calls when a
 * cloud source is configured. A cloud query that is still running or failed is reported as such next to the
 * lifecycle events instead of hiding them; AUDIT.QUERY_TIMEOUT becomes `running` (ask again).
 */
export async function grantTimeline(
  g: Grant,
  events: readonly GrantEvent[],
  cloud: CloudActionSource | undefined,
): Promise<Timeline> {
  const lifecycleOnly = (status: CloudStatus, notes: string[], extra: Partial<Timeline['cloud']> = {}): Timeline => ({
    grantId: g.id,
    entries: mergeTimeline(events, []),
    cloud: { status, ...extra },
    notes,
  });
  if (!cloud) return lifecycleOnly('not-configured', [NOT_CONFIGURED_NOTE]);
  let result: CloudActionsResult | undefined;
  try {
    result = await cloud.forGrant(g);
  } catch (e) {
    const code = e instanceof TimeboxError ? e.code : 'AUDIT.QUERY_FAILED';
    const message = e instanceof Error ? e.message : String(e);
    const queryExecutionId = (e instanceof TimeboxError ? (e.details as { queryExecutionId?: string }) : undefined)
      ?.queryExecutionId;
    return lifecycleOnly(code === 'AUDIT.QUERY_TIMEOUT' ? 'running' : 'failed', [CLOUDTRAIL_LAG_NOTE], {
      error: { code, message },
      ...(queryExecutionId ? { queryExecutionId } : {}),
    });
  }
  if (!result) return lifecycleOnly('not-applicable', [NOT_APPLICABLE_NOTE]);
  const notes = [CLOUDTRAIL_LAG_NOTE, DATA_EVENTS_NOTE];
  if (result.truncated)
    notes.push(`Only the first ${result.actions.length} AWS calls are shown; query Athena directly for the rest.`);
  if (result.actions.some((a) => a.via === 'same-identity'))
    notes.push(
      'Calls marked same-identity carry the requester as source identity in the grant window but are not linked to the grant session.',
    );
  return {
    grantId: g.id,
    entries: mergeTimeline(events, result.actions),
    cloud: {
      status: 'complete',
      window: result.window,
      queryExecutionId: result.queryExecutionId,
      ...(result.truncated ? { truncated: true } : {}),
    },
    notes,
  };
}
