import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { EventBody, GrantEvent } from '../../../core/grant/events';
import { eventSummary } from '../../../core/grant/summary';

const event = (body: EventBody): GrantEvent =>
  ({
    ...body,
    actor: { id: 'alice', kind: 'principal' },
    grantId: 'g-1',
    seq: 1,
    at: '2026-01-01T00:00:00.000Z',
    target: 'prod',
    prevHash: '',
    hash: '',
  }) as GrantEvent;

const requested = (rule: string | null, codes: string[]) =>
  event({
    type: 'requested',
    data: {
      decision: 'needs-approval',
      rule,
      reason: 'INC-1 disk full',
      reasons: codes.map((code) => ({ code, message: `${code} message` })),
    },
  } as unknown as EventBody);

// [event, timeline, detail (`timebox show`), note (`timebox audit`)]
const cases: Array<[string, GrantEvent, string, string, string]> = [
  [
    'requested with a rule',
    requested('oncall', ['NEEDS_APPROVAL', 'MFA']),
    'needs-approval by rule oncall: INC-1 disk full',
    'needs-approval (rule oncall): NEEDS_APPROVAL, MFA',
    'INC-1 disk full',
  ],
  [
    'requested without a rule',
    requested(null, []),
    'needs-approval: INC-1 disk full',
    'needs-approval',
    'INC-1 disk full',
  ],
  [
    'approved with a comment',
    event({ type: 'approved', data: { approvals: 1, required: 2, comment: 'ok' } }),
    '1/2: ok',
    '1/2: ok',
    'ok',
  ],
  ['approved without a comment', event({ type: 'approved', data: { approvals: 2, required: 2 } }), '2/2', '2/2', ''],
  ['denied', event({ type: 'denied', data: { comment: 'no' } }), 'no', 'no', 'no'],
  ['cancelled without a comment', event({ type: 'cancelled', data: {} }), '', '', ''],
  [
    'lapsed',
    event({ type: 'lapsed', data: { reason: { code: 'PENDING_TIMEOUT', message: 'nobody approved in time' } } }),
    'nobody approved in time',
    'PENDING_TIMEOUT',
    'nobody approved in time',
  ],
  ['activated', event({ type: 'activated', data: { activatedAt: 'a', expiresAt: 'T' } }), 'until T', 'until T', 'T'],
  [
    'credentials-issued',
    event({ type: 'credentials-issued', data: { kind: 'aws-sts', expiresAt: 'T', details: {} } }),
    'aws-sts until T',
    'aws-sts, until T',
    'T',
  ],
  [
    'revoked',
    event({ type: 'revoked', data: { reason: 'left the team' } }),
    'left the team',
    'left the team',
    'left the team',
  ],
  ['expired', event({ type: 'expired', data: { expiresAt: 'T', by: 'schedule' } }), 'at T', 'at T', 'T'],
  [
    'access-failed',
    event({
      type: 'access-failed',
      data: { step: 'provision', error: { code: 'AWS.THROTTLED', message: 'slow down' } },
    }),
    'provision: slow down',
    'provision: AWS.THROTTLED',
    '',
  ],
  ['access-provisioned', event({ type: 'access-provisioned', data: { details: { a: 1 } } }), '', '', ''],
];

describe('Function: eventSummary', () => {
  it.each(cases)('%s: each view keeps its own wording', (_name, e, timeline, detail, note) => {
    expect(eventSummary(e, 'timeline')).toBe(timeline);
    expect(eventSummary(e, 'detail')).toBe(detail);
    expect(eventSummary(e, 'note')).toBe(note);
  });

  it('notes the comment, reason, expiry or decision of an event type it does not know', () => {
    const unknown = (data: unknown) => event({ type: 'future-kind', data } as unknown as EventBody);
    expect(eventSummary(unknown({ comment: 'c', reason: 'r' }), 'note')).toBe('c');
    expect(eventSummary(unknown({ reason: { code: 'X', message: 'm' } }), 'note')).toBe('m');
    expect(eventSummary(unknown({ decision: 'deny' }), 'note')).toBe('deny');
    expect(eventSummary(unknown({ decision: 7 }), 'note')).toBe('');
    expect(eventSummary(unknown({ comment: 'c' }), 'timeline')).toBe('');
    expect(eventSummary(unknown({ comment: 'c' }), 'detail')).toBe('');
  });

  it('is one line whenever the event text is one line (property)', () => {
    const text = fc.string({ maxLength: 30 }).filter((s) => !/[\r\n]/.test(s));
    fc.assert(
      fc.property(
        text,
        text,
        fc.constantFrom('timeline', 'detail', 'note') as fc.Arbitrary<'timeline' | 'detail' | 'note'>,
        (comment, reason, style) => {
          for (const e of [
            event({ type: 'denied', data: { comment } }),
            event({ type: 'revoked', data: { reason } }),
            event({ type: 'approved', data: { approvals: 1, required: 2, comment } }),
          ]) {
            const s = eventSummary(e, style);
            expect(s).not.toMatch(/[\r\n]/);
            expect(s).toContain(e.type === 'revoked' ? reason : comment);
          }
        },
      ),
    );
  });
});
