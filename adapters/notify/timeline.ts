import { TimeboxError } from '../../core/errors';
import type { GrantEvent } from '../../core/grant/events';
import type { Grant } from '../../core/grant/state';
import { eventSummary } from '../../core/grant/summary';

/**
 * One timeline per grant: its lifecycle events (the audit table) and the AWS calls made under it (CloudTrail,
 * read by ../aws/athena.ts), merged in time order with notes on what the cloud side cannot show. This is the audit
 * view of the same lifecycle the notifier announces, and it is pure: the API loads it with every cold start, while
 * the Athena adapter and its SDK load only when a timeline is first asked for. Locally, where there is no Athena,
 * a timeline is the lifecycle events alone and says so.
 */

/** CloudTrail delivers log files about 5 minutes after the calls (CloudTrail User Guide, "How CloudTrail works"). */
export const CLOUDTRAIL_LAG_NOTE =
  'CloudTrail delivers events about 5 minutes after the call (sometimes longer): the last minutes of a grant may not be here yet.';
/** The stack's trail records management events and writes to the audit table only (stacks/audit.ts). */
export const DATA_EVENTS_NOTE =
  'Data events (S3 object reads and writes, Lambda invocations, DynamoDB item calls) appear for the resources of hub-account aws-role targets, which the Timebox trail records; others only if another trail records them.';
export const NOT_CONFIGURED_NOTE =
  'Cloud actions are not available here (no Athena workgroup is configured, as in local mode): lifecycle events only.';
export const NOT_APPLICABLE_NOTE =
  'This grant is not for an AWS role, or it never became active: there are no AWS calls to show.';

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

export function lifecycleEntry(e: GrantEvent): TimelineEntry {
  const note = eventSummary(e, 'timeline');
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
