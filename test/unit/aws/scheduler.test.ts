import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ResourceNotFoundException,
  SchedulerClient,
  UpdateScheduleCommand,
} from '@aws-sdk/client-scheduler';
import { describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { atExpression, EventBridgeGrantScheduler, scheduleName } from '../../../adapters/aws/scheduler';

const opts = {
  group: 'timebox',
  targetArn: 'arn:aws:lambda:eu-west-1:999988887777:function:timebox-revoke',
  roleArn: 'arn:aws:iam::999988887777:role/timebox/timebox-scheduler',
  deadLetterArn: 'arn:aws:sqs:eu-west-1:999988887777:timebox-schedules-dlq',
};
const GRANT = 'tb-01jd4x7z8y9k2m3n4p5q6r7s8t';

function setup() {
  const client = new SchedulerClient({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
  const mock = mockClient(client);
  return { scheduler: new EventBridgeGrantScheduler(client, opts), mock };
}

const expected = (name: string, action: 'expire' | 'activate', at: string) => ({
  Name: name,
  GroupName: 'timebox',
  ScheduleExpression: `at(${at})`,
  ScheduleExpressionTimezone: 'UTC',
  FlexibleTimeWindow: { Mode: 'OFF' },
  ActionAfterCompletion: 'DELETE',
  Description: `timebox ${action} ${GRANT}`,
  Target: {
    Arn: opts.targetArn,
    RoleArn: opts.roleArn,
    Input: JSON.stringify({ grantId: GRANT, action }),
    RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 },
    DeadLetterConfig: { Arn: opts.deadLetterArn },
  },
});

describe('Class: EventBridgeGrantScheduler', () => {
  describe('Method: schedule', () => {
    it('creates a one-shot expiry schedule named after the grant', async () => {
      const { scheduler, mock } = setup();
      mock.on(CreateScheduleCommand).resolves({ ScheduleArn: 'arn:x' });
      await scheduler.schedule(GRANT, 'expire', new Date('2026-11-24T10:30:00.000Z'));
      expect(mock.commandCalls(CreateScheduleCommand).map((c) => c.args[0].input)).toEqual([
        expected(GRANT, 'expire', '2026-11-24T10:30:00'),
      ]);
      expect(JSON.parse(mock.commandCalls(CreateScheduleCommand)[0]?.args[0].input.Target?.Input ?? '')).toEqual({
        grantId: GRANT,
        action: 'expire',
      });
    });

    it('names an activation `<grant>.start` and rounds a fractional second up, never firing early', async () => {
      const { scheduler, mock } = setup();
      mock.on(CreateScheduleCommand).resolves({});
      await scheduler.schedule(GRANT, 'activate', new Date('2026-11-24T10:59:59.001Z'));
      expect(mock.commandCalls(CreateScheduleCommand)[0]?.args[0].input).toEqual(
        expected(`${GRANT}.start`, 'activate', '2026-11-24T11:00:00'),
      );
    });

    it('schedules at the next whole minute: Scheduler fires anywhere within the minute named', async () => {
      const { scheduler, mock } = setup();
      mock.on(CreateScheduleCommand).resolves({});
      // at(10:30:30) could fire at 10:30:00, 30 s before the grant expires; at(10:31:00) fires at 10:31:00 or later.
      await scheduler.schedule(GRANT, 'expire', new Date('2026-11-24T10:30:30.000Z'));
      expect(mock.commandCalls(CreateScheduleCommand)[0]?.args[0].input.ScheduleExpression).toBe(
        'at(2026-11-24T10:31:00)',
      );
    });
  });

  describe('Function: atExpression', () => {
    it('names a whole minute that is at or after the time and less than a minute after it', () => {
      fc.assert(
        fc.property(fc.integer({ min: Date.UTC(2025, 0, 1), max: Date.UTC(2099, 0, 1) }), (ms) => {
          const m = /^at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)$/.exec(atExpression(new Date(ms)));
          expect(m).not.toBeNull();
          const fires = Date.parse(`${m?.[1]}Z`);
          // The earliest moment Scheduler may invoke is the start of the minute named: never before the time.
          expect(fires % 60_000).toBe(0);
          expect(fires).toBeGreaterThanOrEqual(ms);
          expect(fires - ms).toBeLessThan(60_000);
        }),
      );
    });

    it('is idempotent: a name conflict updates the schedule with the same input', async () => {
      const { scheduler, mock } = setup();
      mock
        .on(CreateScheduleCommand)
        .rejects(new ConflictException({ message: 'exists', Message: 'exists', $metadata: {} }));
      mock.on(UpdateScheduleCommand).resolves({ ScheduleArn: 'arn:x' });
      await scheduler.schedule(GRANT, 'expire', new Date('2026-11-24T10:45:00.000Z'));
      expect(mock.commandCalls(UpdateScheduleCommand).map((c) => c.args[0].input)).toEqual([
        expected(GRANT, 'expire', '2026-11-24T10:45:00'),
      ]);
    });

    it('translates other failures', async () => {
      const { scheduler, mock } = setup();
      mock.on(CreateScheduleCommand).rejects(Object.assign(new Error('x'), { name: 'ThrottlingException' }));
      await expect(scheduler.schedule(GRANT, 'expire', new Date('2026-11-24T10:45:00Z'))).rejects.toMatchObject({
        code: 'AWS.THROTTLED',
        message: expect.stringContaining('scheduler:CreateSchedule'),
      });
    });

    it('refuses a grant id that cannot name a schedule, without calling AWS', async () => {
      const { scheduler, mock } = setup();
      await expect(scheduler.schedule('tb/../x', 'expire', new Date())).rejects.toMatchObject({
        code: 'SCHEDULE.BAD_NAME',
      });
      expect(() => scheduleName('x'.repeat(60), 'activate')).toThrow(
        expect.objectContaining({ code: 'SCHEDULE.BAD_NAME' }),
      );
      expect(() => atExpression(new Date('nope'))).toThrow(expect.objectContaining({ code: 'SCHEDULE.BAD_TIME' }));
      expect(mock.calls()).toHaveLength(0);
    });
  });

  describe('Method: cancel', () => {
    it('deletes the schedule in its group', async () => {
      const { scheduler, mock } = setup();
      mock.on(DeleteScheduleCommand).resolves({});
      await scheduler.cancel(GRANT, 'activate');
      expect(mock.commandCalls(DeleteScheduleCommand).map((c) => c.args[0].input)).toEqual([
        { Name: `${GRANT}.start`, GroupName: 'timebox' },
      ]);
    });

    it('treats a schedule that already fired (deleted) as cancelled', async () => {
      const { scheduler, mock } = setup();
      mock
        .on(DeleteScheduleCommand)
        .rejects(new ResourceNotFoundException({ message: 'gone', Message: 'gone', $metadata: {} }));
      await expect(scheduler.cancel(GRANT, 'expire')).resolves.toBeUndefined();
    });

    it('translates other failures', async () => {
      const { scheduler, mock } = setup();
      mock.on(DeleteScheduleCommand).rejects(Object.assign(new Error('no'), { name: 'AccessDeniedException' }));
      await expect(scheduler.cancel(GRANT, 'expire')).rejects.toMatchObject({ code: 'AWS.ACCESS_DENIED' });
    });
  });
});
