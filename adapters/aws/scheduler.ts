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
 * One-shot EventBridge Scheduler schedules per grant (the second of the three layers of expiry, README "How a
 * grant lives"): Scheduler allows 10,000,000 schedules per account and deletes a one-time schedule after it runs
 * (`ActionAfterCompletion: DELETE`), unlike EventBridge rules (300 per bus, deleted by hand).
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

/** Scheduler invokes a target "with 60 second precision": `at(1:00)` fires between 1:00:00 and 1:00:59. */
export const SCHEDULER_PRECISION_MS = 60_000;

/**
 * `at(yyyy-mm-ddThh:mm:00)` in UTC: the first whole minute at or after `at`. EventBridge Scheduler invokes targets
 * anywhere within the minute named (Scheduler User Guide, "Schedule types": "between 1:00:00 and 1:00:59"), so a time
 * with seconds could fire up to 59 s before it; from a whole minute at or after `at` it never fires early. Access
 * itself ends exactly at `at` through the session policy's time condition; this only records the expiry.
 */
export function atExpression(at: Date): string {
  if (Number.isNaN(at.getTime()))
    throw new ValidationError('SCHEDULE.BAD_TIME', 'the schedule time is not a valid date');
  const up = new Date(Math.ceil(at.getTime() / SCHEDULER_PRECISION_MS) * SCHEDULER_PRECISION_MS);
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
