import { afterEach, describe, expect, it, jest } from '@jest/globals';
import type { ApiClient } from '../../../cli/client';
import { waitForGrant } from '../../../cli/commands/request';
import { EXIT } from '../../../cli/errors';
import { eventRow, nextSteps, statusLine } from '../../../cli/format';
import type { GrantEvent } from '../../../core/grant/events';
import type { Grant } from '../../../core/grant/state';
import { runCli } from '../../helpers/cli';
import { expectWith, stubGlobal, unstubAllGlobals } from '../../helpers/runner';
import { fakeBroker, grantDummy } from './fake-broker';

const ENV = {
  TIMEBOX_ENDPOINT: 'http://127.0.0.1:8787',
  TIMEBOX_TOKEN: 'session-token',
  TIMEBOX_AWS_REGION: undefined,
};
const NOW = new Date('2026-11-24T10:00:00.000Z');

afterEach(() => {
  unstubAllGlobals();
});

function pendingDummy(partial: Partial<Grant> = {}): Grant {
  return grantDummy({
    status: 'pending',
    approval: { count: 2, from: ['group:secops'], requireMfa: true },
    pendingUntil: '2026-11-24T10:30:00.000Z',
    activatedAt: undefined,
    expiresAt: undefined,
    ...partial,
  });
}

/** An API client answering GET /v1/requests/{id} with the next grant of a script. */
function scriptedApi(states: Grant[]): ApiClient & { gets: number } {
  let i = 0;
  const api = {
    gets: 0,
    call: async () => {
      api.gets++;
      const g = states[Math.min(i++, states.length - 1)] as Grant;
      return { grant: g };
    },
  };
  return api as unknown as ApiClient & { gets: number };
}

describe('Function: statusLine', () => {
  it.each([
    [pendingDummy(), 'pending: 0/2 approvals from group:secops (lapses in 30m)'],
    [grantDummy({ status: 'approved', startAt: '2026-11-24T11:00:00.000Z' }), 'approved: starts in 1h'],
    [
      grantDummy({ expiresAt: '2026-11-24T10:45:00.000Z' }),
      'active on prod-logs until 2026-11-24T10:45:00.000Z (in 45m)',
    ],
    [
      grantDummy({ status: 'denied', endedBy: 'carol@corp.com', endReason: 'not during the freeze' }),
      'denied by carol@corp.com: not during the freeze',
    ],
  ])('says where a grant stands (%#)', (g, text) => {
    expect(statusLine(g, NOW)).toBe(`${g.id} ${text}`);
  });

  it('suggests the next command for each kind of target', () => {
    expect(nextSteps(pendingDummy())).toEqual([`ask an approver to run: timebox approve ${pendingDummy().id}`]);
    expect(nextSteps(grantDummy({ target: { kind: 'grpc', name: 'u', audience: 'u' } }))[0]).toMatch(/timebox token/);
    expect(nextSteps(grantDummy({ status: 'expired' }))).toEqual([]);
  });

  it('shows each event with what it says', () => {
    const e = {
      seq: 2,
      at: NOW.toISOString(),
      type: 'approved',
      actor: { id: 'carol@corp.com', kind: 'principal' },
      data: { approvals: 1, required: 2, comment: 'ok for INC-9' },
    } as unknown as GrantEvent;
    expect(eventRow(e)).toEqual(['2', NOW.toISOString(), 'approved', 'carol@corp.com', '1/2: ok for INC-9']);
  });
});

describe('Function: waitForGrant', () => {
  it('follows a request until active, writing a line per change without a terminal', async () => {
    // Prepare
    const first = pendingDummy();
    const api = scriptedApi([
      first,
      pendingDummy({ approvals: [{ by: 'carol@corp.com', at: NOW.toISOString() }] }),
      grantDummy({ expiresAt: '2026-11-24T10:30:00.000Z' }),
    ]);
    const written: string[] = [];
    // Act
    const outcome = await waitForGrant(api, first, {
      timeoutMs: 60_000,
      pollMs: 1_000,
      write: (t) => written.push(t),
      tty: false,
      now: () => NOW,
      sleep: async () => {},
    });
    // Assess
    expect(outcome.result).toBe('active');
    expect(written).toEqual([
      `${first.id} pending: 0/2 approvals from group:secops (lapses in 30m)\n`,
      `${first.id} pending: 1/2 approvals from group:secops (lapses in 30m)\n`,
      `${first.id} active on prod-logs until 2026-11-24T10:30:00.000Z (in 30m)\n`,
    ]);
  });

  it('rewrites one line in place on a terminal, and ends it with a newline', async () => {
    const first = pendingDummy();
    const written: string[] = [];
    await waitForGrant(
      scriptedApi([grantDummy({ status: 'denied', endedBy: 'dan@corp.com', endReason: 'no' })]),
      first,
      {
        timeoutMs: 60_000,
        pollMs: 1_000,
        write: (t) => written.push(t),
        tty: true,
        now: () => NOW,
        sleep: async () => {},
      },
    );
    expect(written[0]?.startsWith('\r')).toBe(true);
    expect(written[1]).toMatch(/^\r.* denied by dan@corp.com: no\s*$/);
    expect(written.at(-1)).toBe('\n');
  });

  it('stops at the timeout with the grant as last seen', async () => {
    let t = NOW.getTime();
    const api = scriptedApi([pendingDummy()]);
    const outcome = await waitForGrant(api, pendingDummy(), {
      timeoutMs: 10_000,
      pollMs: 2_000,
      write: () => {},
      tty: false,
      now: () => new Date(t),
      sleep: async (ms) => {
        t += ms;
      },
    });
    expect(outcome.result).toBe('timeout');
    expect(api.gets).toBe(5);
  });
});

describe('Command: request', () => {
  it('sends the request and prints the outcome with the next step', async () => {
    const g = grantDummy();
    const broker = fakeBroker({
      'POST /v1/requests': () => ({
        status: 201,
        body: { grant: g, decision: { decision: 'allow', rule: 'sre-reads-logs', reasons: [] } },
      }),
    });
    const r = await runCli(
      ['request', 'prod-logs', '--for', '1h', '--reason', 'INC-123', '--scope', 's3:GetObject', '--ticket', 'INC-123'],
      ENV,
    );
    expect(r.code).toBe(EXIT.ok);
    expect(broker.calls[0]?.body).toEqual({
      target: 'prod-logs',
      scopes: ['s3:GetObject'],
      duration: '1h',
      reason: 'INC-123',
      ticket: 'INC-123',
    });
    expect(r.stdout).toMatch(
      new RegExp(
        `^${g.id} active on prod-logs until .* \\[rule sre-reads-logs\\]\\n  credentials: timebox credentials ${g.id}\\n`,
      ),
    );
  });

  it('exits 1 with every reason when the policy denies, and --json puts the broker error on stdout', async () => {
    fakeBroker({
      'POST /v1/requests': () => ({
        status: 403,
        body: {
          error: {
            code: 'REQUEST.DENIED',
            message: 'the access policy denied this request',
            reasons: [
              { code: 'RULE.NO_MATCH', message: 'no rule lets carol@corp.com request prod-logs' },
              { code: 'DURATION.TOO_LONG', message: '3h is longer than 1h' },
            ],
          },
        },
      }),
    });
    const text = await runCli(['request', 'prod-logs', '--for', '3h', '--reason', 'x'], ENV);
    const json = await runCli(['request', 'prod-logs', '--for', '3h', '--reason', 'x', '--json'], ENV);
    expect(text.code).toBe(EXIT.failed);
    expect(text.stderr).toBe(
      'timebox: the access policy denied this request: RULE.NO_MATCH: no rule lets carol@corp.com request prod-logs; DURATION.TOO_LONG: 3h is longer than 1h\n',
    );
    expect(json.code).toBe(EXIT.failed);
    expect(JSON.parse(json.stdout).error).toMatchObject({ code: 'REQUEST.DENIED', status: 403 });
  });

  it('with --wait, exits 0 once active and 1 when the request ends otherwise', async () => {
    const pending = pendingDummy();
    let state = 0;
    const answers = [grantDummy(), grantDummy({ status: 'denied', endedBy: 'carol@corp.com', endReason: 'no' })];
    fakeBroker({
      'POST /v1/requests': () => ({
        status: 201,
        body: { grant: pending, decision: { decision: 'needs-approval', rule: 'r', reasons: [] } },
      }),
      [`GET /v1/requests/${pending.id}`]: () => ({ status: 200, body: { grant: answers[state] } }),
    });
    const args = ['request', 'prod-logs', '--for', '1h', '--reason', 'x', '--wait', '--poll-interval', '1s'];
    const activated = await runCli(args, ENV);
    state = 1;
    const denied = await runCli(args, ENV);
    expect(activated.code).toBe(EXIT.ok);
    expect(activated.stderr).toContain(`${pending.id} pending: 0/2 approvals`);
    expect(denied.code).toBe(EXIT.failed);
    expect(denied.stdout).toContain('denied by carol@corp.com: no');
  });

  it('with --wait, counts "active ... (in 15m)" from when it prints, not from when it asked', async () => {
    // Prepare: a 15-minute request approved 21 s after it was made (the fake clock moves only when told).
    jest.useFakeTimers({
      now: NOW,
      doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'setInterval', 'clearInterval'],
    });
    try {
      const pending = pendingDummy({ duration: 15 * 60_000 });
      fakeBroker({
        'POST /v1/requests': () => ({
          status: 201,
          body: { grant: pending, decision: { decision: 'needs-approval', rule: 'r', reasons: [] } },
        }),
        [`GET /v1/requests/${pending.id}`]: () => ({
          status: 200,
          body: { grant: grantDummy({ expiresAt: new Date(Date.now() + 15 * 60_000).toISOString() }) },
        }),
      });
      // Act
      const running = runCli(
        ['request', 'prod-logs', '--for', '15m', '--reason', 'x', '--wait', '--poll-interval', '21s'],
        ENV,
      );
      await jest.advanceTimersByTimeAsync(21_000);
      const r = await running;
      // Assess
      expectWith(r.code, r.stderr).toBe(EXIT.ok);
      expect(r.stdout).toMatch(/ active on prod-logs until \S+ \(in 15m\) \[rule r\]\n/);
    } finally {
      jest.useRealTimers();
    }
  });

  it('says when approvals are due, and that the requested duration capped the wait', async () => {
    const pending = pendingDummy({
      duration: 15 * 60_000,
      requestedAt: NOW.toISOString(),
      pendingUntil: new Date(NOW.getTime() + 15 * 60_000).toISOString(),
    });
    fakeBroker({
      'POST /v1/requests': () => ({
        status: 201,
        body: { grant: pending, decision: { decision: 'needs-approval', rule: 'r', reasons: [] } },
      }),
    });
    const r = await runCli(['request', 'prod-logs', '--for', '15m', '--reason', 'x'], ENV);
    expect(r.stdout.split('\n')[1]).toBe(
      '  approvals are due by 2026-11-24T10:15:00.000Z: a request waits for approval no longer than the 15m it asks for',
    );
  });

  it.each([
    [
      ['request', 'prod-logs', '--for', '30 minutes', '--reason', 'x'],
      /^timebox: --for: "30 minutes" is not a duration/,
    ],
    [
      ['request', 'prod-logs', '--for', '30m', '--reason', 'x', '--start', 'tomorrow'],
      /^timebox: --start: "tomorrow" is not an ISO-8601 time/,
    ],
    [['request', 'prod-logs', '--for', '30m', '--reason', '  '], /^timebox: --reason: must not be empty/],
    [['request', 'prod-logs', '--for', '30m'], /required option '--reason <text>' not specified/],
    [['approve', 'not-an-id'], /^timebox: "not-an-id" is not a grant id/],
    [['deny', 'tb-01jd0000000000000000000000'], /required option '--comment <text>' not specified/],
  ])('refuses bad input with exit 2, naming the flag, before calling the broker (%#)', async (args, message) => {
    const broker = fakeBroker({});
    const r = await runCli(args, ENV);
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toMatch(message);
    expect(broker.calls).toEqual([]);
  });

  it('exits 3 on a broker refusal and 4 when the broker cannot be reached', async () => {
    fakeBroker({
      'POST /v1/requests/tb-01jd0000000000000000000000/approve': () => ({
        status: 403,
        body: { error: { code: 'APPROVAL.SELF', message: 'a requester can never decide their own request' } },
      }),
    });
    const refused = await runCli(['approve', 'tb-01jd0000000000000000000000'], ENV);
    stubGlobal('fetch', async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    });
    const down = await runCli(['list'], ENV);
    expect(refused).toMatchObject({
      code: EXIT.refused,
      stderr: 'timebox: APPROVAL.SELF: a requester can never decide their own request\n',
    });
    expect(down).toMatchObject({
      code: EXIT.unavailable,
      stderr: 'timebox: cannot reach http://127.0.0.1:8787: ECONNREFUSED\n',
    });
  });

  it('extends a grant: a new request for the same scope, labelled as the extension', async () => {
    const original = grantDummy();
    const extension = grantDummy({
      id: 'tb-01jd0000000000000000000009',
      status: 'approved',
      startAt: original.expiresAt,
      extends: original.id,
    });
    const broker = fakeBroker({
      [`POST /v1/requests/${original.id}/extend`]: () => ({
        status: 201,
        body: { grant: extension, decision: { decision: 'allow', rule: 'sre-reads-logs', reasons: [] } },
      }),
    });
    const r = await runCli(['extend', original.id, '--for', '30m', '--reason', 'INC-123 still open'], ENV);
    expectWith(r.code, r.stderr).toBe(EXIT.ok);
    expect(broker.calls[0]?.body).toEqual({ duration: '30m', reason: 'INC-123 still open' });
    expect(r.stdout).toMatch(new RegExp(`^extension of ${original.id}: ${extension.id} approved: starts in `));
  });
});

describe('Command: console', () => {
  afterEach(() => {
    unstubAllGlobals();
  });

  it('prints only the sign-in link of an aws-role grant', async () => {
    const g = grantDummy();
    fakeBroker({
      [`POST /v1/grants/${g.id}/console`]: () => ({
        status: 200,
        body: { url: 'https://signin.aws.amazon.com/federation?Action=login&SigninToken=t', expiresAt: 'x' },
      }),
    });
    const r = await runCli(['console', g.id], ENV);
    expect(r).toEqual({
      code: EXIT.ok,
      stdout: 'https://signin.aws.amazon.com/federation?Action=login&SigninToken=t\n',
      stderr: '',
    });
  });
});
