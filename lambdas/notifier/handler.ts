import { DETAIL_TYPES, EVENT_SOURCE, type LifecycleDetail } from '../../adapters/notify/detail';
import type { Notifier, NotifyReport, ReminderOptions } from '../../adapters/notify/notifier';
import * as z from '../../adapters/zod';
import type { EventType } from '../../core/grant/events';
import { GRANT_ID_PATTERN } from '../../core/ids';
import { type Log, type ProjectionStore, scopedLog } from '../../core/ports';

/**
 * The notifier Lambda: a target of the bus rule that matches Timebox lifecycle events (EventBridge invokes it
 * asynchronously), and of a schedule that sends `{"timebox": "reminders"}` every five minutes. Anything that
 * fails to go out is thrown, so Lambda retries the event and finally hands it to the function's dead-letter queue.
 */

/** What the reminder schedule sends (stacks/notifications/ sets it as the rule target's constant input). */
export const REMINDERS_INPUT = { timebox: 'reminders' } as const;

const EVENT_TYPES = Object.keys(DETAIL_TYPES) as [EventType, ...EventType[]];

/** The parts of an event's detail the notifier relies on; the rest is passed through as published. */
const Detail = z.looseObject({
  version: z.literal(1),
  grantId: z.string().check(z.regex(GRANT_ID_PATTERN)),
  seq: z.number().check(z.int(), z.positive()),
  type: z.enum(EVENT_TYPES),
  at: z.iso.datetime({ offset: true }),
  actor: z.looseObject({ id: z.string(), kind: z.enum(['principal', 'system']) }),
  target: z.string(),
  data: z.record(z.string(), z.unknown()),
  grant: z.looseObject({
    status: z.string(),
    requester: z.string(),
    target: z.looseObject({ kind: z.enum(['aws-role', 'gcp-role', 'grpc']), name: z.string() }),
    reason: z.string(),
    duration: z.number(),
    approvals: z.array(z.looseObject({ by: z.string(), at: z.string() })),
  }),
});
const BusEvent = z.looseObject({ source: z.literal(EVENT_SOURCE), 'detail-type': z.string(), detail: Detail });
const Reminders = z.object({ timebox: z.literal('reminders') });

export type NotifierOutcome =
  | { outcome: 'notified'; grantId: string; seq: number; report: NotifyReport }
  | { outcome: 'reminded'; report: NotifyReport }
  | { outcome: 'dropped'; reason: string };

export function createNotifierHandler(deps: {
  notifier: Pick<Notifier, 'notify' | 'remind'>;
  projections: Pick<ProjectionStore, 'listDue'>;
  reminders?: ReminderOptions;
  log: Log;
}): (event: unknown) => Promise<NotifierOutcome> {
  return async (event) => {
    if (z.safeParse(Reminders, event).success) {
      const report = await deps.notifier.remind(deps.projections, deps.reminders);
      deps.log.info('reminders sent', { sent: report.sent.length });
      return { outcome: 'reminded', report };
    }
    const parsed = z.safeParse(BusEvent, event);
    if (!parsed.success) {
      // Not retried: the same event would be refused again. The log line keeps it for whoever investigates.
      deps.log.error('malformed bus event dropped', {
        issues: parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`),
        event: JSON.stringify(event ?? null).slice(0, 512),
      });
      return { outcome: 'dropped', reason: 'malformed event' };
    }
    const detail = parsed.data.detail as unknown as LifecycleDetail;
    const log = scopedLog(deps.log, { grantId: detail.grantId, seq: detail.seq, type: detail.type });
    const report = await deps.notifier.notify(detail);
    log.info('notified', { sent: report.sent.length, skipped: report.skipped.length });
    return { outcome: 'notified', grantId: detail.grantId, seq: detail.seq, report };
  };
}
