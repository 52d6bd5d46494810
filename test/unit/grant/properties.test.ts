import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { verifyChain } from '../../../core/grant/chain';
import {
  activateCommand,
  approveCommand,
  cancelCommand,
  denyCommand,
  expireCommand,
  lapseCommand,
  revokeCommand,
} from '../../../core/grant/commands';
import type { EventDraft, GrantEvent } from '../../../core/grant/events';
import { foldGrant, type Grant, isTerminal } from '../../../core/grant/state';
import { principal } from '../../../core/principal';
import { alice, bob, carol, dan, erin, mallory, sam, WORLD_POLICY, world } from '../../helpers/world';

/** The world policy plus a peer-reviewed target where requesters and approvers overlap (self-approval is possible to try). */
const PROP_POLICY = WORLD_POLICY.replace(
  'rules:\n',
  `  billing:
    kind: grpc
    audience: billing
    methods: [/acme.billing.v1.Billing/*]
rules:
  - name: peer-review
    who: [group:sre, group:secops]
    targets: [billing]
    maxDuration: 1h
    approval: { from: [group:sre, group:secops], count: 2 }
`,
);

const MIN = 60_000;
const people = [alice, bob, carol, dan, erin, sam, mallory, principal({ id: 'Carol@corp.com', mfa: true })];
const requests = [
  { target: 'prod-logs', duration: 30 * MIN, reason: 'r' },
  { target: 'user-service', scopes: ['/acme.admin.*'], duration: 20 * MIN, reason: 'r' },
  { target: 'analytics', duration: 60 * MIN, reason: 'r' },
  { target: 'prod-logs', duration: 5 * 60 * MIN, reason: 'too long' },
  { target: 'billing', duration: 40 * MIN, reason: 'peer' },
];

/** An actor index, or the requester of the grant acted on (so requester-only paths are exercised often). */
type Who = number | 'requester';
type Op =
  | { op: 'request'; who: number; req: number; mfa: boolean }
  | { op: 'approve' | 'deny' | 'cancel' | 'revoke' | 'credentials' | 'extend'; who: Who; grant: number }
  | { op: 'advance'; minutes: number }
  | { op: 'sweep' }
  | { op: 'fire' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      op: fc.constant('request' as const),
      who: fc.nat(people.length - 1),
      req: fc.nat(requests.length - 1),
      mfa: fc.boolean(),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      op: fc.constantFrom(
        'approve' as const,
        'deny' as const,
        'cancel' as const,
        'revoke' as const,
        'credentials' as const,
        'extend' as const,
      ),
      who: fc.oneof(fc.nat(people.length - 1), fc.constant('requester' as const)),
      grant: fc.nat(9),
    }),
    weight: 6,
  },
  {
    arbitrary: fc.record({ op: fc.constant('advance' as const), minutes: fc.integer({ min: 1, max: 90 }) }),
    weight: 1,
  },
  { arbitrary: fc.record({ op: fc.constant('sweep' as const) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('fire' as const) }), weight: 1 },
);

describe('Properties: grant lifecycle', () => {
  it('under any sequence of operations: chains verify, ended grants stay ended, approvals are distinct and never self, credentials only while active, nothing active past expiry after a sweep', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60, size: 'max' }), async (ops) => {
        const w = world(PROP_POLICY);
        const ids: string[] = [];
        const lastStatus = new Map<string, string>();
        for (const o of ops) {
          // Mostly the newest grants, so sequences of operations on one grant are common.
          const id = 'grant' in o ? ids[Math.max(0, ids.length - 1 - (o.grant % 3))] : undefined;
          const requesterOf = id ? (await w.service.load(id)).requester.id : alice.id;
          const who =
            'who' in o
              ? o.who === 'requester'
                ? principal({ id: requesterOf, mfa: true, sourceIp: '10.9.9.9' })
                : (people[o.who] as (typeof people)[number])
              : alice;
          try {
            switch (o.op) {
              case 'request':
                ids.push(
                  (
                    await w.service.request(
                      principal({ ...who, mfa: o.mfa || who.mfa }),
                      requests[o.req] as (typeof requests)[0],
                    )
                  ).grant.id,
                );
                break;
              case 'approve':
                if (id) await w.service.approve(id, who);
                break;
              case 'deny':
                if (id) await w.service.deny(id, who, 'no');
                break;
              case 'cancel':
                if (id) await w.service.cancel(id, who);
                break;
              case 'revoke':
                if (id) await w.service.revoke(id, who, 'stop');
                break;
              case 'credentials':
                if (id) await w.service.issueCredentials(id, who, 'credentials');
                break;
              case 'extend':
                if (id) ids.push((await w.service.extend(id, who, { duration: 10 * MIN, reason: 'more' })).grant.id);
                break;
              case 'advance':
                w.clock.advance(o.minutes * MIN);
                break;
              case 'sweep':
                await w.service.sweep();
                break;
              case 'fire':
                await w.fireSchedules();
                break;
            }
          } catch (e) {
            // Refusals are expected; they must be domain errors with a code, never a crash.
            expect(e).toHaveProperty('code');
          }
          for (const [gid, stream] of w.events.streams) {
            const g = foldGrant(stream);
            const before = lastStatus.get(gid);
            if (before && isTerminal(before as never)) expect(g.status).toBe(before);
            lastStatus.set(gid, g.status);
          }
        }
        await w.service.sweep();
        const now = w.clock.now().getTime();
        for (const [gid, stream] of w.events.streams) {
          expect(verifyChain(gid, stream).ok).toBe(true);
          const g = foldGrant(stream);
          const approvers = g.approvals.map((a) => a.by);
          expect(new Set(approvers).size).toBe(approvers.length);
          expect(approvers).not.toContain(g.requester.id);
          if (g.status === 'active') expect(Date.parse(g.expiresAt as string)).toBeGreaterThan(now);
          if (g.activatedAt && g.approval) expect(g.approvals.length).toBeGreaterThanOrEqual(g.approval.count);
          if (g.activatedAt && g.expiresAt)
            expect(Date.parse(g.expiresAt) - Date.parse(g.activatedAt)).toBeLessThanOrEqual(g.duration);
          let state = foldGrant(stream.slice(0, 1));
          for (const e of stream.slice(1)) {
            if (e.type === 'credentials-issued') {
              expect(state.status).toBe('active');
              expect(Date.parse(e.at)).toBeLessThan(Date.parse(state.expiresAt as string));
              expect(Date.parse(e.data.expiresAt)).toBeLessThanOrEqual(Date.parse(state.expiresAt as string));
              expect(e.actor.id).toBe(state.requester.id);
            }
            state = foldGrant(stream.slice(0, e.seq));
          }
        }
      }),
      { numRuns: 200 },
    );
  }, 60_000);

  it('every command appends exactly one event or none', async () => {
    type World = ReturnType<typeof world>;
    type Person = (typeof people)[number];
    type Cmd = (g: Grant, now: Date, w: World, who: Person) => EventDraft | null;
    const commands: Cmd[] = [
      (g, _now, w, who) => approveCommand(g, who, w.policy()),
      (g, _now, w, who) => denyCommand(g, who, w.policy(), 'no'),
      (g, _now, _w, who) => cancelCommand(g, who),
      (g, _now, w, who) => revokeCommand(g, who, w.policy(), 'x'),
      (g, now) => activateCommand(g, now),
      (g, now) => expireCommand(g, now),
      (g, now) => lapseCommand(g, now),
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ cmd: fc.nat(commands.length - 1), who: fc.nat(people.length - 1), minutes: fc.nat(40) }), {
          maxLength: 25,
        }),
        fc.nat(2),
        async (steps, req) => {
          const w = world();
          const { grant } = await w.service.request(
            principal({ ...alice, mfa: true }),
            requests[req] as (typeof requests)[0],
          );
          for (const s of steps) {
            w.clock.advance(s.minutes * MIN);
            const before = (await w.events.read(grant.id)).length;
            const command = commands[s.cmd] as Cmd;
            let result: { event: GrantEvent | null } | undefined;
            try {
              result = await w.service.mutate(grant.id, (g) => command(g, w.clock.now(), w, people[s.who] as Person));
            } catch (e) {
              expect(e).toHaveProperty('code');
            }
            const after = (await w.events.read(grant.id)).length;
            expect(after - before).toBe(result?.event ? 1 : 0);
          }
        },
      ),
      { numRuns: 200 },
    );
  }, 60_000);

  it('any single change to a stored chain fails verification', async () => {
    const w = world();
    const { grant } = await w.service.request(alice, requests[1] as (typeof requests)[0]);
    await w.service.approve(grant.id, carol);
    await w.service.approve(grant.id, dan);
    await w.service.issueCredentials(grant.id, alice, 'token');
    await w.service.revoke(grant.id, alice, 'done');
    const original = await w.events.read(grant.id);
    const head = { seq: original.length, hash: (original.at(-1) as GrantEvent).hash };
    expect(verifyChain(grant.id, original, head).ok).toBe(true);

    const tamper = fc.oneof(
      fc.record({
        kind: fc.constant('edit' as const),
        i: fc.nat(original.length - 1),
        field: fc.constantFrom('at', 'actor', 'data', 'type', 'target'),
      }),
      fc.record({ kind: fc.constant('remove' as const), i: fc.nat(original.length - 1) }),
      fc.record({ kind: fc.constant('swap' as const), i: fc.nat(original.length - 2) }),
      fc.record({
        kind: fc.constant('insert' as const),
        i: fc.nat(original.length),
        from: fc.nat(original.length - 1),
      }),
      fc.record({ kind: fc.constant('rehash' as const), i: fc.nat(original.length - 1) }),
    );
    fc.assert(
      fc.property(tamper, (t) => {
        const events = structuredClone(original) as GrantEvent[];
        const e = events[t.kind === 'insert' ? 0 : t.i] as GrantEvent & Record<string, unknown>;
        switch (t.kind) {
          case 'edit':
            if (t.field === 'at') e.at = new Date(Date.parse(e.at) + 1000).toISOString();
            else if (t.field === 'actor') e.actor = { ...e.actor, id: 'mallory@corp.com' };
            else if (t.field === 'data') (e as { data: unknown }).data = { ...(e.data as object), forged: true };
            else if (t.field === 'type') (e as { type: string }).type = e.type === 'revoked' ? 'expired' : 'revoked';
            else e.target = 'other-target';
            break;
          case 'remove':
            events.splice(t.i, 1);
            break;
          case 'swap':
            [events[t.i], events[t.i + 1]] = [events[t.i + 1] as GrantEvent, events[t.i] as GrantEvent];
            break;
          case 'insert':
            events.splice(t.i, 0, structuredClone(original[t.from] as GrantEvent));
            break;
          case 'rehash':
            e.hash = e.hash.replace(/^./, (c) => (c === '0' ? '1' : '0'));
            break;
        }
        expect(verifyChain(grant.id, events, head).ok).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});
