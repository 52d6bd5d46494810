import type { Logger } from '@aws-lambda-powertools/logger';
import type { GrantEvent } from '../core/grant/events';
import type { Grant } from '../core/grant/state';
import { definedFields, type EventPublisher, type Log } from '../core/ports';

/**
 * The core `Log` port over Powertools Logger: one JSON object per line on stdout, which Lambda ships to
 * CloudWatch Logs, where Logs Insights can filter on any field (`filter grantId = "tb-..."`).
 * `fields` is context that applies to every line of this log: a handler scopes it to one grant or one request,
 * so every line about a grant carries `grantId` even when the code that writes it does not know the grant.
 */
export class PowertoolsLog implements Log {
  constructor(
    private readonly logger: Pick<Logger, 'info' | 'warn' | 'error'>,
    private readonly fields: Readonly<Record<string, unknown>> = {},
  ) {}

  /** A log that adds `fields` to every line (later keys win over earlier ones). */
  with(fields: Record<string, unknown>): PowertoolsLog {
    return new PowertoolsLog(this.logger, { ...this.fields, ...definedFields(fields) });
  }

  info(message: string, fields?: Record<string, unknown>): void {
    this.logger.info(message, this.merge(fields));
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.logger.warn(message, this.merge(fields));
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.logger.error(message, this.merge(fields));
  }

  private merge(fields?: Record<string, unknown>): Record<string, unknown> {
    return fields ? { ...this.fields, ...definedFields(fields) } : { ...this.fields };
  }
}

/**
 * Publishes lifecycle events as structured log lines (`lifecycle event`, with grantId, seq, type, actor). It is
 * the publisher until the EventBridge one lands: the lines are real and queryable (a CloudWatch Logs
 * subscription filter can forward them), but nothing routes them to Slack or webhooks yet.
 */
export class LogPublisher implements EventPublisher {
  constructor(private readonly log: Log) {}

  async publish(events: GrantEvent[], grant: Grant): Promise<void> {
    for (const e of events)
      this.log.info('lifecycle event', {
        grantId: e.grantId,
        seq: e.seq,
        type: e.type,
        at: e.at,
        actor: e.actor.id,
        target: e.target,
        status: grant.status,
      });
  }
}
