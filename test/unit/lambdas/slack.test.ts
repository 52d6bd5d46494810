import { createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { UserDirectory } from '../../../adapters/notify/config';
import { createSlackInteractions, type RefusalNotice } from '../../../adapters/notify/interactions';
import { ACTION_APPROVE, ACTION_DENY, COMMENT_ACTION, COMMENT_BLOCK } from '../../../adapters/notify/messages';
import type { InteractionAnswer } from '../../../adapters/notify/slack';
import type { GrantService } from '../../../core/grant/service';
import { principal } from '../../../core/principal';
import { createSlackHandler } from '../../../lambdas/slack/handler';
import { requestDummy, world } from '../../helpers/world';

const SIGNING_SECRET = 'e3b0c44298fc1c149afbf4c8996fb924';
const RESPONSE_URL = 'https://hooks.slack.com/actions/T0TEAM/1234/abcd';
const USERS = {
  U0ALICE: 'alice@corp.com',
  U0CAROL: 'carol@corp.com',
  U0DAN: 'dan@corp.com',
  U0ERIN: { principal: 'Erin@corp.com', groups: ['unused'] },
};

/** The slack Lambda handler over the in-memory broker, with what it answered and published recorded. */
function slackWorld(opts: { teamId?: string; service?: Pick<GrantService, 'approve' | 'deny'> } = {}) {
  const w = world();
  const answers: { url: string; answer: InteractionAnswer }[] = [];
  const refusals: { detailType: string; notice: RefusalNotice }[] = [];
  const handler = createSlackHandler({
    interactions: createSlackInteractions({
      signingSecret: async () => SIGNING_SECRET,
      users: async () => new UserDirectory(USERS),
      service: opts.service ?? w.service,
      respond: async (url, answer) => {
        answers.push({ url, answer });
      },
      refused: async (detailType, notice) => {
        refusals.push({ detailType, notice });
      },
      clock: w.clock,
      log: w.log,
      ...(opts.teamId ? { teamId: opts.teamId } : {}),
    }),
    log: w.log,
  });

  /** A button click as Slack posts it: form-encoded `payload`, signed with the app's signing secret. */
  const click = async (
    slackUser: string,
    action: string,
    grantId: string,
    over: { comment?: string; secret?: string; ageSeconds?: number; team?: string; base64?: boolean } = {},
  ) => {
    const payload = {
      type: 'block_actions',
      user: { id: slackUser, username: slackUser.toLowerCase(), team_id: over.team ?? 'T0TEAM' },
      team: { id: over.team ?? 'T0TEAM', domain: 'acme' },
      api_app_id: 'A0TIMEBOX',
      container: { type: 'message', message_ts: '1764000000.000100', channel_id: 'C0APPROVALS' },
      channel: { id: 'C0APPROVALS', name: 'access-approvals' },
      trigger_id: '123.456.abc',
      response_url: RESPONSE_URL,
      actions: [{ type: 'button', action_id: action, block_id: 'timebox_decide', value: grantId, action_ts: '1' }],
      state: {
        values: {
          [COMMENT_BLOCK]: { [COMMENT_ACTION]: { type: 'plain_text_input', value: over.comment ?? null } },
        },
      },
    };
    const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
    const ts = Math.floor(w.clock.now().getTime() / 1000) - (over.ageSeconds ?? 0);
    const sig = `v0=${createHmac('sha256', over.secret ?? SIGNING_SECRET)
      .update(`v0:${ts}:${body}`)
      .digest('hex')}`;
    return handler({
      version: '2.0',
      routeKey: 'POST /slack/interactions',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-slack-request-timestamp': String(ts),
        'x-slack-signature': sig,
      },
      body: over.base64 ? Buffer.from(body).toString('base64') : body,
      isBase64Encoded: over.base64 ?? false,
    });
  };
  return { ...w, answers, refusals, click };
}

/** alice asks for 2-of-secops break-glass access. */
async function breakGlass(w: ReturnType<typeof slackWorld>) {
  const { grant } = await w.service.request(
    principal({ id: 'alice@corp.com' }),
    requestDummy({ target: 'user-service', scopes: ['/acme.admin.*'], duration: 20 * 60_000 }),
  );
  return grant.id;
}

const textOf = (a: InteractionAnswer | undefined) =>
  JSON.stringify(a && ('ephemeral' in a ? a.ephemeral : a.replaceOriginal));

describe('Handler: slack', () => {
  it('two mapped approvers reach the 2-of-N quorum from Slack: the grant becomes active', async () => {
    // Prepare
    const w = slackWorld();
    const id = await breakGlass(w);

    // Act
    const first = await w.click('U0CAROL', ACTION_APPROVE, id, { comment: 'on call, checked INC-123' });
    const afterFirst = await w.service.load(id);
    const second = await w.click('U0DAN', ACTION_APPROVE, id);

    // Assess
    expect(first.statusCode).toBe(200);
    expect(second.statusCode).toBe(200);
    expect(afterFirst.status).toBe('pending');
    const g = await w.service.load(id);
    expect(g.status).toBe('active');
    expect(g.approvals.map((a) => a.by)).toEqual(['carol@corp.com', 'dan@corp.com']);
    expect(g.approvals[0]?.comment).toBe('on call, checked INC-123');
    const approvedEvents = (await w.events.read(id)).filter((e) => e.type === 'approved');
    expect(approvedEvents.map((e) => e.actor)).toEqual([
      { id: 'carol@corp.com', kind: 'principal', mfa: false, userAgent: 'slack' },
      { id: 'dan@corp.com', kind: 'principal', mfa: false, userAgent: 'slack' },
    ]);
    // Each click replaced the original message: first still pending with buttons, then the outcome without them.
    expect(w.answers.map((a) => a.url)).toEqual([RESPONSE_URL, RESPONSE_URL]);
    const [a1, a2] = w.answers.map((a) => a.answer);
    expect(a1 && 'replaceOriginal' in a1).toBe(true);
    expect(textOf(a1)).toContain(ACTION_APPROVE);
    expect(textOf(a1)).toContain('<@U0CAROL>');
    expect(textOf(a2)).not.toContain(ACTION_APPROVE);
    expect(textOf(a2)).toContain('active until');
  });

  it('refuses the requester approving their own request, with APPROVAL.SELF shown to them only', async () => {
    const w = slackWorld();
    const id = await breakGlass(w);
    const before = w.events.appends;

    const res = await w.click('U0ALICE', ACTION_APPROVE, id);

    expect(res.statusCode).toBe(200);
    expect(w.events.appends).toBe(before);
    const answer = w.answers[0]?.answer;
    expect(answer && 'ephemeral' in answer).toBe(true);
    expect(textOf(answer)).toContain('APPROVAL.SELF');
    expect(w.log.lines).toContainEqual(
      expect.objectContaining({
        message: 'slack decision refused',
        fields: expect.objectContaining({ code: 'APPROVAL.SELF', principal: 'alice@corp.com' }),
      }),
    );
  });

  it('refuses a request whose approval requires MFA, pointing to timebox approve from an MFA session', async () => {
    const w = slackWorld();
    const { grant } = await w.service.request(
      principal({ id: 'alice@corp.com', mfa: true }),
      requestDummy({ target: 'analytics', duration: 60 * 60_000 }),
    );
    expect(grant.approval?.requireMfa).toBe(true);
    const before = w.events.appends;

    await w.click('U0CAROL', ACTION_APPROVE, grant.id);

    expect(w.events.appends).toBe(before);
    expect((await w.service.load(grant.id)).status).toBe('pending');
    const text = textOf(w.answers[0]?.answer);
    expect(text).toContain('APPROVAL.MFA_REQUIRED');
    expect(text).toContain(`timebox approve ${grant.id}`);
  });

  it('refuses an unmapped Slack user and audits it: a log line and a Timebox Slack Action Refused event', async () => {
    const w = slackWorld();
    const id = await breakGlass(w);
    const before = w.events.appends;

    const res = await w.click('U0MALLORY', ACTION_APPROVE, id);

    expect(res.statusCode).toBe(200);
    expect(w.events.appends).toBe(before);
    expect(w.refusals).toEqual([
      {
        detailType: 'Timebox Slack Action Refused',
        notice: {
          slackUserId: 'U0MALLORY',
          slackUserName: 'u0mallory',
          slackTeamId: 'T0TEAM',
          action: 'approve',
          grantId: id,
          reason: 'SLACK.UNMAPPED_USER',
          at: w.clock.now().toISOString(),
        },
      },
    ]);
    expect(w.log.lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: 'slack action refused: unmapped user',
        fields: expect.objectContaining({ slackUserId: 'U0MALLORY', grantId: id, code: 'SLACK.UNMAPPED_USER' }),
      }),
    );
    expect(textOf(w.answers[0]?.answer)).toContain('SLACK.UNMAPPED_USER');
  });

  it('refuses a click from another workspace when the workspace is pinned, even from a mapped user id', async () => {
    const w = slackWorld({ teamId: 'T0TEAM' });
    const id = await breakGlass(w);
    await w.click('U0CAROL', ACTION_APPROVE, id, { team: 'T0OTHER' });
    expect((await w.service.load(id)).approvals).toEqual([]);
    expect(w.refusals[0]?.notice.reason).toBe('SLACK.WRONG_WORKSPACE');
  });

  it('refuses requests with a bad signature before reading them: 401, nothing changes, nothing is answered', async () => {
    const w = slackWorld();
    const id = await breakGlass(w);
    const before = w.events.appends;

    const forged = await w.click('U0CAROL', ACTION_APPROVE, id, { secret: 'guessed-signing-secret-000000000' });
    const replayed = await w.click('U0CAROL', ACTION_APPROVE, id, { ageSeconds: 600 });

    expect(forged.statusCode).toBe(401);
    expect(JSON.parse(forged.body).error.code).toBe('SIGNATURE.MISMATCH');
    expect(replayed.statusCode).toBe(401);
    expect(JSON.parse(replayed.body).error.code).toBe('SIGNATURE.STALE');
    expect(w.events.appends).toBe(before);
    expect(w.answers).toEqual([]);
    expect(w.refusals).toEqual([]);
  });

  it('denies only with a comment: without one it asks for it, with one the denial records it', async () => {
    const w = slackWorld();
    const id = await breakGlass(w);

    await w.click('U0CAROL', ACTION_DENY, id);
    expect((await w.service.load(id)).status).toBe('pending');
    expect(textOf(w.answers[0]?.answer)).toContain('DENY.COMMENT_REQUIRED');

    await w.click('U0CAROL', ACTION_DENY, id, { comment: 'not during the freeze' });
    const g = await w.service.load(id);
    expect(g.status).toBe('denied');
    expect(g.endReason).toBe('not during the freeze');
    expect(textOf(w.answers[1]?.answer)).toContain('Denied by');
  });

  it('counts one person once: a second approval by the same Slack user is refused', async () => {
    const w = slackWorld();
    const id = await breakGlass(w);
    await w.click('U0CAROL', ACTION_APPROVE, id);
    await w.click('U0CAROL', ACTION_APPROVE, id);
    expect((await w.service.load(id)).approvals).toHaveLength(1);
    expect(textOf(w.answers[1]?.answer)).toContain('APPROVAL.DUPLICATE');
  });

  it('maps principals case-insensitively and accepts API Gateway base64 bodies', async () => {
    const w = slackWorld();
    const id = await breakGlass(w);
    await w.click('U0ERIN', ACTION_APPROVE, id, { base64: true });
    expect((await w.service.load(id)).approvals.map((a) => a.by)).toEqual(['erin@corp.com']);
  });

  it('acknowledges and ignores interactions that are not its buttons, and refuses a button without a grant id', async () => {
    const w = slackWorld();
    const id = await breakGlass(w);
    const other = await w.click('U0CAROL', 'some_other_action', id);
    expect(other.statusCode).toBe(200);
    expect(w.answers).toEqual([]);
    await w.click('U0CAROL', ACTION_APPROVE, 'tb-not-a-grant');
    expect(textOf(w.answers[0]?.answer)).toContain('GRANT.NOT_FOUND');
    expect((await w.service.load(id)).approvals).toEqual([]);
  });

  it('answers 400 to a signed body without a payload and 503 when its secrets cannot be read', async () => {
    const w = slackWorld();
    const broken = createSlackHandler({
      interactions: createSlackInteractions({
        signingSecret: async () => {
          throw new Error('secretsmanager:GetSecretValue failed');
        },
        users: async () => new UserDirectory({}),
        service: w.service,
        respond: async () => {},
        refused: async () => {},
        clock: w.clock,
        log: w.log,
      }),
      log: w.log,
    });
    expect((await broken({ headers: {}, body: 'payload=x' })).statusCode).toBe(503);
    const ts = Math.floor(w.clock.now().getTime() / 1000);
    const body = 'nothing=here';
    const sig = `v0=${createHmac('sha256', SIGNING_SECRET).update(`v0:${ts}:${body}`).digest('hex')}`;
    const handler = createSlackHandler({
      interactions: createSlackInteractions({
        signingSecret: async () => SIGNING_SECRET,
        users: async () => new UserDirectory({}),
        service: w.service,
        respond: async () => {},
        refused: async () => {},
        clock: w.clock,
        log: w.log,
      }),
      log: w.log,
    });
    const res = await handler({
      headers: { 'X-Slack-Request-Timestamp': String(ts), 'X-Slack-Signature': sig },
      body,
    });
    expect(res.statusCode).toBe(400);
  });
});

/** Every code shown in an answer: Timebox codes are written in backticks, such as `APPROVAL.SELF`. */
const codesShown = (a: InteractionAnswer | undefined) =>
  [...(a && 'ephemeral' in a ? a.ephemeral.text : '').matchAll(/`([A-Z][A-Z0-9_]*\.[A-Z][A-Z0-9_.]*)`/g)].map(
    (m) => m[1],
  );

/** The codes the handler recorded: on its log lines and on the bus. */
const codesRecorded = (w: ReturnType<typeof slackWorld>) => [
  ...w.log.lines.flatMap((l) => (typeof l.fields?.code === 'string' ? [l.fields.code] : [])),
  ...w.refusals.map((r) => r.notice.reason),
];

describe('Handler: slack refusals name their own code', () => {
  it.each([
    ['an unmapped Slack user', 'SLACK.UNMAPPED_USER', { user: 'U0MALLORY' }],
    ['a mapped user clicking from another workspace', 'SLACK.WRONG_WORKSPACE', { team: 'T0OTHER' }],
    ['a button that names no grant', 'GRANT.NOT_FOUND', { grant: 'tb-not-a-grant' }],
    ['the requester approving their own request', 'APPROVAL.SELF', { user: 'U0ALICE' }],
    ['a denial without a reason', 'DENY.COMMENT_REQUIRED', { action: ACTION_DENY }],
  ] as const)('%s: the code shown is the code recorded (%s)', async (_what, code, over) => {
    // Prepare
    const w = slackWorld({ teamId: 'T0TEAM' });
    const id = await breakGlass(w);
    const o: { user?: string; team?: string; grant?: string; action?: string } = over;
    // Act
    await w.click(o.user ?? 'U0CAROL', o.action ?? ACTION_APPROVE, o.grant ?? id, o.team ? { team: o.team } : {});
    // Assess
    expect(codesRecorded(w)).toContain(code);
    expect(new Set(codesRecorded(w))).toEqual(new Set([code]));
    expect(codesShown(w.answers[0]?.answer)).toEqual([code]);
  });

  it('a second approval by the same person and a click needing MFA show the codes they recorded', async () => {
    const w = slackWorld();
    const id = await breakGlass(w);
    await w.click('U0CAROL', ACTION_APPROVE, id);
    await w.click('U0CAROL', ACTION_APPROVE, id);
    expect(codesRecorded(w)).toEqual(['APPROVAL.DUPLICATE']);
    expect(codesShown(w.answers[1]?.answer)).toEqual(['APPROVAL.DUPLICATE']);

    const m = slackWorld();
    const { grant } = await m.service.request(
      principal({ id: 'alice@corp.com', mfa: true }),
      requestDummy({ target: 'analytics', duration: 60 * 60_000 }),
    );
    await m.click('U0CAROL', ACTION_APPROVE, grant.id);
    expect(codesRecorded(m)).toEqual(['APPROVAL.MFA_REQUIRED']);
    expect(codesShown(m.answers[0]?.answer)).toEqual(['APPROVAL.MFA_REQUIRED']);
  });

  it('a wrong-workspace click is published, logged and shown as SLACK.WRONG_WORKSPACE, never as unmapped', async () => {
    const w = slackWorld({ teamId: 'T0TEAM' });
    const id = await breakGlass(w);
    await w.click('U0CAROL', ACTION_APPROVE, id, { team: 'T0OTHER' });
    expect(w.refusals.map((r) => r.notice.reason)).toEqual(['SLACK.WRONG_WORKSPACE']);
    expect(JSON.stringify(w.answers)).not.toContain('UNMAPPED');
    expect(w.log.lines).toContainEqual(
      expect.objectContaining({
        message: 'slack action refused: wrong workspace',
        fields: expect.objectContaining({ code: 'SLACK.WRONG_WORKSPACE', slackTeamId: 'T0OTHER' }),
      }),
    );
  });

  it('a decision that fails for a fault shows the code its log line carries', async () => {
    const w = slackWorld({
      service: {
        approve: async () => {
          throw new Error('dynamodb:PutItem timed out');
        },
        deny: async () => {
          throw new Error('dynamodb:PutItem timed out');
        },
      },
    });
    const id = await breakGlass(w);
    await w.click('U0CAROL', ACTION_APPROVE, id);
    expect(codesRecorded(w)).toEqual(['SLACK.DECISION_FAILED']);
    expect(codesShown(w.answers[0]?.answer)).toEqual(['SLACK.DECISION_FAILED']);
    expect(JSON.stringify(w.answers)).not.toContain('dynamodb');
  });
});
