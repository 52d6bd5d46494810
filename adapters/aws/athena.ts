import {
  AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  type Row,
  StartQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { canonicalJson, sha256Hex } from '../../core/canonical';
import { TimeboxError, UnavailableError, ValidationError } from '../../core/errors';
import type { Grant } from '../../core/grant/state';
import { GRANT_ID_PATTERN } from '../../core/ids';
import type { Attribution, CloudAction, CloudActionSource, CloudActionsResult } from '../notify/timeline';
import { awsCall } from './errors';

/**
 * "Who did what with this grant": the AWS calls made under a grant, read from the stack's CloudTrail table
 * (stacks/athena.ts: Glue table `cloudtrail`, partition projection over `region` and `timestamp` = yyyy/MM/dd)
 * with Athena. The merge with the grant's lifecycle events is in ../notify/timeline.ts, which the API loads at once;
 * this module and the Athena SDK are loaded on the first timeline request (lambdas/runtime.ts cloudTrailSource).
 *
 * Every session the broker opens for a grant is `AssumeRole` with `SourceIdentity=<principal>` and
 * `RoleSessionName=<grant id>` (adapters/aws/sts.ts). CloudTrail records both on every call made with it
 * (`useridentity.arn` ends in the session name; `sessioncontext.sourceidentity` is the principal), and the source
 * identity survives role chaining, so a role assumed *from* the grant's session carries it too.
 */

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

/** The CloudTrail source of a Lambda function, with its own Athena client. */
export function cloudTrailActions(settings: AthenaSettings): CloudActionSource {
  return new CloudTrailActions(new AthenaClient({}), settings);
}
