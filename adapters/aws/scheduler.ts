import {
  CreateScheduleCommand,
  type CreateScheduleInput,
  DeleteScheduleCommand,
  type SchedulerClient,
  UpdateScheduleCommand,
} from '@aws-sdk/client-scheduler';
import { ValidationError } from '../../core/errors';
import type { GrantScheduler } from '../../core/ports';
import { awsCall, isAwsError, translateAwsError } from './errors';

/**
 * One-shot EventBridge Scheduler schedules per grant (DESIGN.md, "Expiry in three layers"): Scheduler allows
 * 10,000,000 schedules per account and deletes a one-time schedule after it runs (`ActionAfterCompletion: DELETE`),
 * unlike EventBridge rules (300 per bus, deleted by hand).
 */

/** Scheduler API reference, RetryPolicy: MaximumRetryAttempts 0..185, MaximumEventAgeInSeconds 60..86400. */
export const SCHEDULE_RETRY = { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86_400 } as const;
/** Schedule names: 1-64 characters of [0-9a-zA-Z-_.] (CreateSchedule `Name`). */
const SCHEDULE_NAME = /^[0-9a-zA-Z\-_.]{1,64}$/;

/** The schedule name: the grant id for expiry, `<grant id>.start` for a deferred activation. */
export function scheduleName(grantId: string, action: 'expire' | 'activate'): string {
  const name = action === 'expire' ? grantId : `${grantId}.start`;
  if (!SCHEDULE_NAME.test(name))
    throw new ValidationError('SCHEDULE.BAD_NAME', `"${name}" cannot name a schedule (1-64 of [0-9a-zA-Z-_.])`);
  return name;
}

/**
 * `at(yyyy-mm-ddThh:mm:ss)` in UTC, rounded UP to the whole second: a schedule that fires a fraction of a second
 * before the expiry would find the grant not yet expired and leave it to the sweeper.
 */
export function atExpression(at: Date): string {
  if (Number.isNaN(at.getTime()))
    throw new ValidationError('SCHEDULE.BAD_TIME', 'the schedule time is not a valid date');
  const up = new Date(Math.ceil(at.getTime() / 1000) * 1000);
  return `at(${up.toISOString().slice(0, 19)})`;
}

export class EventBridgeGrantScheduler implements GrantScheduler {
  constructor(
    private readonly client: SchedulerClient,
    private readonly opts: { group: string; targetArn: string; roleArn: string; deadLetterArn: string },
  ) {}

  /** The exact CreateSchedule input for one grant action (also used for the idempotent UpdateSchedule). */
  input(grantId: string, action: 'expire' | 'activate', at: Date): CreateScheduleInput {
    return {
      Name: scheduleName(grantId, action),
      GroupName: this.opts.group,
      ScheduleExpression: atExpression(at),
      ScheduleExpressionTimezone: 'UTC',
      // OFF: fire at the time given, not somewhere in a window after it.
      FlexibleTimeWindow: { Mode: 'OFF' },
      ActionAfterCompletion: 'DELETE',
      Description: `timebox ${action} ${grantId}`,
      Target: {
        Arn: this.opts.targetArn,
        RoleArn: this.opts.roleArn,
        Input: JSON.stringify({ grantId, action }),
        RetryPolicy: { ...SCHEDULE_RETRY },
        DeadLetterConfig: { Arn: this.opts.deadLetterArn },
      },
    };
  }

  /** Creates the schedule; if one of that name exists (a retry, or a new time), updates it to this input. */
  async schedule(grantId: string, action: 'expire' | 'activate', at: Date): Promise<void> {
    const input = this.input(grantId, action, at);
    try {
      await this.client.send(new CreateScheduleCommand(input));
    } catch (e) {
      if (!isAwsError(e, 'ConflictException')) throw translateAwsError(e, 'scheduler:CreateSchedule', input.Name);
      await awsCall('scheduler:UpdateSchedule', input.Name, () => this.client.send(new UpdateScheduleCommand(input)));
    }
  }

  /** Deletes the schedule; one already fired (and deleted by Scheduler) or never created is fine. */
  async cancel(grantId: string, action: 'expire' | 'activate'): Promise<void> {
    const name = scheduleName(grantId, action);
    try {
      await this.client.send(new DeleteScheduleCommand({ Name: name, GroupName: this.opts.group }));
    } catch (e) {
      if (isAwsError(e, 'ResourceNotFoundException')) return;
      throw translateAwsError(e, 'scheduler:DeleteSchedule', name);
    }
  }
}
