import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import nock from 'nock';
import { GCP_CODES } from '../../../adapters/gcp/errors';
import type { IamBinding } from '../../../adapters/gcp/policy';
import { createGcpProvider, GcpAccessProvider, type GcpProviderDeps } from '../../../adapters/gcp/provider';
import { ManualClock } from '../../../core/clock';
import { RecordingLog } from '../../helpers/memory';
import { CRM, FakeCrm, TOKEN } from './fake-crm';
import { EXPIRES, gcpConfigDummy, gcpGrantDummy, NOW, noSleep, PROJECT, staticAuth } from './fixtures';

const ctx = { now: NOW };
const TITLE = 'timebox:tb-01jdx7k2m3n4p5q6r7s8t9v0wx';
const EXPRESSION = "request.time < timestamp('2026-11-24T14:00:00Z')";

/** Bindings nobody at Timebox wrote: unconditional, conditional, and look-alike titles. */
const UNRELATED: IamBinding[] = [
  { role: 'roles/owner', members: ['user:root@corp.com', 'serviceAccount:ci@acme-ci.iam.gserviceaccount.com'] },
  {
    role: 'roles/bigquery.dataViewer',
    members: ['group:analysts@corp.com'],
    condition: {
      title: 'business hours',
      description: 'weekday access only',
      expression: 'request.time.getDayOfWeek("Europe/Paris") < 5',
    },
  },
  {
    role: 'roles/bigquery.dataViewer',
    members: ['user:alice@corp.com'],
    condition: {
      title: 'timebox:tb-01jdx7k2m3n4p5q6r7s8t9v0wxz',
      expression: "request.time < timestamp('2030-01-01T00:00:00Z')",
    },
  },
  {
    role: 'roles/storage.objectViewer',
    members: ['user:bob@corp.com'],
    condition: {
      title: 'Timebox:tb-01jdx7k2m3n4p5q6r7s8t9v0wx',
      expression: "request.time < timestamp('2030-01-01T00:00:00Z')",
    },
  },
  { role: 'roles/logging.viewer', members: ['domain:corp.com'] },
];

function conditionalFiller(n: number): IamBinding[] {
  return Array.from({ length: n }, (_, i) => ({
    role: 'roles/logging.viewer',
    members: [`user:u${i}@corp.com`],
    condition: { title: `other-${i}`, expression: "request.time < timestamp('2030-01-01T00:00:00Z')" },
  }));
}

describe('Class: GcpAccessProvider', () => {
  let crm: FakeCrm;
  let log: RecordingLog;
  let clock: ManualClock;

  const provider = (partial: Partial<GcpProviderDeps> = {}, config = gcpConfigDummy()) =>
    new GcpAccessProvider(config, { log, authClient: staticAuth, sleep: noSleep, clock, ...partial });

  beforeEach(() => {
    nock.disableNetConnect();
    crm = new FakeCrm();
    crm.install();
    log = new RecordingLog();
    clock = new ManualClock('2026-11-24T10:00:05Z');
  });
  afterEach(() => {
    nock.cleanAll();
    nock.enableNetConnect();
  });

  describe('Method: provision', () => {
    it('reads the policy as v3, adds one conditional binding per role, and writes it back with the etag', async () => {
      // Prepare
      crm.seed(PROJECT, []);
      const etag = crm.policies.get(PROJECT)?.etag;
      const grant = gcpGrantDummy({
        scope: { kind: 'gcp-role', roles: ['roles/bigquery.dataViewer', 'roles/bigquery.jobUser'] },
      });

      // Act
      const details = await provider().provision(grant, ctx);

      // Assess
      expect(crm.calls.map((c) => c.method)).toEqual(['getIamPolicy', 'setIamPolicy']);
      expect(crm.calls[0]?.body).toEqual({ options: { requestedPolicyVersion: 3 } });
      expect(crm.calls.every((c) => c.authorization === `Bearer ${TOKEN}`)).toBe(true);
      const binding = (role: string) => ({
        role,
        members: ['user:alice@corp.com'],
        condition: {
          title: TITLE,
          description: 'Timebox grant tb-01jdx7k2m3n4p5q6r7s8t9v0wx: INC-123 investigating',
          expression: EXPRESSION,
        },
      });
      expect(crm.calls[1]?.body).toEqual({
        policy: {
          version: 3,
          etag,
          bindings: [binding('roles/bigquery.dataViewer'), binding('roles/bigquery.jobUser')],
        },
        updateMask: 'bindings,etag',
      });
      expect(crm.policies.get(PROJECT)?.version).toBe(3);
      expect(details).toMatchObject({
        project: PROJECT,
        member: 'user:alice@corp.com',
        roles: ['roles/bigquery.dataViewer', 'roles/bigquery.jobUser'],
        title: TITLE,
        expression: EXPRESSION,
        added: ['roles/bigquery.dataViewer', 'roles/bigquery.jobUser'],
        alreadyPresent: [],
        conditionalBindings: 2,
        writtenAt: '2026-11-24T10:00:05.000Z',
        attempts: 1,
        propagation: 'propagation typically ~2 min, sometimes 7+',
      });
      expect(details).not.toHaveProperty('warning');
    });

    it('on an etag conflict (409 ABORTED) re-reads, keeps the concurrent change, and succeeds', async () => {
      // Prepare: someone else writes between our read and our write, once.
      crm.seed(PROJECT, UNRELATED);
      let raced = false;
      crm.afterGet = () => {
        if (raced) return;
        raced = true;
        crm.edit(PROJECT, (b) => [...b, { role: 'roles/viewer', members: ['user:carol@corp.com'] }]);
      };
      const delays: number[] = [];

      // Act
      const details = await provider({ sleep: async (ms) => void delays.push(ms), random: () => 0.5 }).provision(
        gcpGrantDummy(),
        ctx,
      );

      // Assess
      expect(crm.calls.map((c) => c.method)).toEqual(['getIamPolicy', 'setIamPolicy', 'getIamPolicy', 'setIamPolicy']);
      expect(delays).toEqual([50]); // full jitter: 0.5 x min(3000, 100 x 2^0)
      const roles = crm.bindings(PROJECT).map((b) => `${b.role} ${b.condition?.title ?? '-'}`);
      expect(roles).toContain('roles/viewer -');
      expect(roles).toContain(`roles/bigquery.dataViewer ${TITLE}`);
      expect(details).toMatchObject({ attempts: 2 });
      expect(log.lines.some((l) => l.message === 'GCP policy changed concurrently, retrying')).toBe(true);
    });

    it('speaks the documented wire shapes: 409 ABORTED then success, exact requests in order', async () => {
      // Prepare: scripted responses instead of the fake, to pin the bodies.
      nock.cleanAll();
      const first = {
        version: 1,
        etag: 'BwWWja0YfJA=',
        bindings: [{ role: 'roles/logging.viewer', members: ['user:bob@corp.com'] }],
      };
      const second = { ...first, etag: 'BwWWja0YfJB=' };
      const written = (etag: string) => ({
        policy: {
          version: 3,
          etag,
          bindings: [
            first.bindings[0],
            {
              role: 'roles/bigquery.dataViewer',
              members: ['user:alice@corp.com'],
              condition: {
                title: TITLE,
                description: 'Timebox grant tb-01jdx7k2m3n4p5q6r7s8t9v0wx: INC-123 investigating',
                expression: EXPRESSION,
              },
            },
          ],
        },
        updateMask: 'bindings,etag',
      });
      const scope = nock(CRM, { reqheaders: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } })
        .post(`/v1/projects/${PROJECT}:getIamPolicy`, { options: { requestedPolicyVersion: 3 } })
        .reply(200, first)
        .post(`/v1/projects/${PROJECT}:setIamPolicy`, written('BwWWja0YfJA='))
        .reply(409, { error: { code: 409, message: 'There were concurrent policy changes.', status: 'ABORTED' } })
        .post(`/v1/projects/${PROJECT}:getIamPolicy`, { options: { requestedPolicyVersion: 3 } })
        .reply(200, second)
        .post(`/v1/projects/${PROJECT}:setIamPolicy`, written('BwWWja0YfJB='))
        .reply(200, { ...written('BwWWja0YfJB=').policy, etag: 'BwWWja0YfJC=' });

      // Act
      const details = await provider().provision(gcpGrantDummy(), ctx);

      // Assess
      expect(scope.isDone()).toBe(true);
      expect(details).toMatchObject({ attempts: 2, added: ['roles/bigquery.dataViewer'] });
    });

    it('gives up after the configured attempts with GCP.POLICY_CONFLICT and no partial write', async () => {
      // Prepare: the policy changes after every read.
      crm.seed(PROJECT, []);
      crm.afterGet = () => crm.edit(PROJECT, (b) => b);
      const delays: number[] = [];
      const p = provider(
        { sleep: async (ms) => void delays.push(ms), random: () => 0.999 },
        gcpConfigDummy({ retry: { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 250 } }),
      );

      // Act
      const err = await p.provision(gcpGrantDummy(), ctx).catch((e: unknown) => e);

      // Assess
      expect(err).toMatchObject({ code: GCP_CODES.conflict, kind: 'conflict' });
      expect(crm.writes()).toHaveLength(4);
      expect(delays).toEqual([99, 199, 249]); // exponential, capped at maxDelayMs, jittered
      expect(crm.bindings(PROJECT)).toEqual([]);
    });

    it('turns a 403 on read into GCP.PERMISSION_DENIED and writes nothing', async () => {
      // Prepare
      crm.seed(PROJECT, UNRELATED);
      crm.denied.add(PROJECT);
      const before = JSON.stringify(crm.policies.get(PROJECT));

      // Act
      const err = await provider()
        .provision(gcpGrantDummy(), ctx)
        .catch((e: unknown) => e);

      // Assess
      expect(err).toMatchObject({ code: 'GCP.PERMISSION_DENIED', kind: 'forbidden', httpStatus: 403 });
      expect((err as Error).message).toContain(`getIamPolicy on project ${PROJECT} was denied`);
      expect(crm.writes()).toHaveLength(0);
      expect(JSON.stringify(crm.policies.get(PROJECT))).toBe(before);
    });

    it('turns a 403 on write (role outside the broker condition) into GCP.PERMISSION_DENIED, policy unchanged', async () => {
      // Prepare
      crm.seed(PROJECT, UNRELATED);
      crm.readOnly.add(PROJECT);
      const before = JSON.stringify(crm.policies.get(PROJECT));

      // Act
      const err = await provider()
        .provision(gcpGrantDummy(), ctx)
        .catch((e: unknown) => e);

      // Assess
      expect(err).toMatchObject({ code: 'GCP.PERMISSION_DENIED' });
      expect(crm.writes()).toHaveLength(1);
      expect(JSON.stringify(crm.policies.get(PROJECT))).toBe(before);
    });

    it('leaves unrelated conditional and unconditional bindings untouched, byte for byte and in order', async () => {
      // Prepare
      crm.seed(PROJECT, UNRELATED, {
        auditConfigs: [{ service: 'allServices', auditLogConfigs: [{ logType: 'DATA_READ' }] }],
      });

      // Act
      await provider().provision(gcpGrantDummy(), ctx);

      // Assess
      const sent = (crm.writes()[0]?.body.policy as { bindings: IamBinding[] } | undefined)?.bindings ?? [];
      expect(sent.slice(0, UNRELATED.length).map((b) => JSON.stringify(b))).toEqual(
        UNRELATED.map((b) => JSON.stringify(b)),
      );
      expect(sent).toHaveLength(UNRELATED.length + 1);
      expect(crm.writes()[0]?.body.policy).not.toHaveProperty('auditConfigs');
      expect(crm.policies.get(PROJECT)?.auditConfigs).toEqual([
        { service: 'allServices', auditLogConfigs: [{ logType: 'DATA_READ' }] },
      ]);
    });

    it('is idempotent: a second provision finds the binding and writes nothing', async () => {
      // Prepare
      crm.seed(PROJECT, UNRELATED);
      const p = provider();
      await p.provision(gcpGrantDummy(), ctx);
      const after = JSON.stringify(crm.policies.get(PROJECT));

      // Act
      const again = await p.provision(gcpGrantDummy(), ctx);

      // Assess
      expect(crm.writes()).toHaveLength(1);
      expect(JSON.stringify(crm.policies.get(PROJECT))).toBe(after);
      expect(again).toMatchObject({ added: [], alreadyPresent: ['roles/bigquery.dataViewer'], writtenAt: null });
      expect(crm.bindings(PROJECT).filter((b) => b.condition?.title === TITLE)).toHaveLength(1);
    });

    it('warns (log and audit details) from 90 conditional bindings on', async () => {
      // Prepare: 89 others + ours = 90.
      crm.seed(PROJECT, conditionalFiller(89));

      // Act
      const details = await provider().provision(gcpGrantDummy(), ctx);

      // Assess
      expect(details).toMatchObject({
        conditionalBindings: 90,
        warning: `project ${PROJECT} holds 90 conditional role bindings (GCP limit 100)`,
      });
      expect(log.lines).toContainEqual(
        expect.objectContaining({ level: 'warn', message: 'GCP conditional binding count near the limit' }),
      );
    });

    it('does not warn at 89', async () => {
      crm.seed(PROJECT, conditionalFiller(88));
      const details = await provider().provision(gcpGrantDummy(), ctx);
      expect(details).toMatchObject({ conditionalBindings: 89 });
      expect(details).not.toHaveProperty('warning');
    });

    it('fills the policy up to exactly 100 conditional bindings', async () => {
      crm.seed(PROJECT, conditionalFiller(99));
      const details = await provider().provision(gcpGrantDummy(), ctx);
      expect(details).toMatchObject({ conditionalBindings: 100 });
      expect(crm.writes()).toHaveLength(1);
    });

    it('fails clearly past the 100 conditional bindings limit, before writing', async () => {
      // Prepare: 99 + two roles = 101.
      crm.seed(PROJECT, conditionalFiller(99));
      const grant = gcpGrantDummy({
        scope: { kind: 'gcp-role', roles: ['roles/bigquery.dataViewer', 'roles/bigquery.jobUser'] },
      });

      // Act
      const err = await provider()
        .provision(grant, ctx)
        .catch((e: unknown) => e);

      // Assess
      expect(err).toMatchObject({ code: 'GCP.CONDITIONAL_BINDING_LIMIT', kind: 'unprocessable' });
      expect((err as Error).message).toContain('would hold 101 conditional role bindings; GCP allows 100');
      expect(crm.writes()).toHaveLength(0);
    });

    it('refuses a 21st conditional binding of one role for one member', async () => {
      crm.seed(
        PROJECT,
        Array.from({ length: 20 }, (_, i) => ({
          role: 'roles/bigquery.dataViewer',
          members: ['user:alice@corp.com'],
          condition: { title: `timebox:tb-other${i}`, expression: EXPRESSION },
        })),
      );
      const err = await provider()
        .provision(gcpGrantDummy(), ctx)
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'GCP.SAME_ROLE_MEMBER_LIMIT' });
      expect(crm.writes()).toHaveLength(0);
    });

    it.each(['roles/owner', 'roles/editor', 'roles/viewer'])(
      'refuses the basic role %s before any call',
      async (role) => {
        crm.seed(PROJECT, []);
        const err = await provider()
          .provision(gcpGrantDummy({ scope: { kind: 'gcp-role', roles: ['roles/bigquery.dataViewer', role] } }), ctx)
          .catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'GCP.BASIC_ROLE', kind: 'invalid' });
        expect(crm.calls).toHaveLength(0);
      },
    );

    it('refuses a principal that maps to no member, before any call', async () => {
      crm.seed(PROJECT, []);
      const grant = gcpGrantDummy({ requester: { id: 'mallory@elsewhere.io', groups: [], mfa: true, attributes: {} } });
      const err = await provider()
        .provision(grant, ctx)
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'GCP.MEMBER_UNMAPPED', kind: 'invalid' });
      expect(crm.calls).toHaveLength(0);
    });

    it('refuses a principal mapped to the broker service account itself', async () => {
      crm.seed(PROJECT, []);
      const config = gcpConfigDummy({
        members: {
          explicit: { 'alice@corp.com': 'serviceAccount:timebox-broker@acme-identity.iam.gserviceaccount.com' },
        },
      });
      const err = await provider({}, config)
        .provision(gcpGrantDummy(), ctx)
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'GCP.MEMBER_UNMAPPED' });
      expect((err as Error).message).toContain('broker service account');
      expect(crm.calls).toHaveLength(0);
    });

    it('refuses a project the broker was not set up for, before any call', async () => {
      crm.seed('other-project', []);
      const grant = gcpGrantDummy({ target: { kind: 'gcp-role', name: 'x', project: 'other-project' } });
      const err = await provider({}, gcpConfigDummy({ projects: [PROJECT] }))
        .provision(grant, ctx)
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'GCP.PROJECT_NOT_CONFIGURED' });
      expect(crm.calls).toHaveLength(0);
    });

    it('refuses a grant of another kind or without roles', async () => {
      const aws = gcpGrantDummy({
        target: { kind: 'grpc', name: 'svc', audience: 'svc' },
        scope: { kind: 'grpc', methods: ['/a.B/*'] },
      });
      await expect(provider().provision(aws, ctx)).rejects.toMatchObject({ code: 'GCP.INVALID_GRANT' });
      await expect(
        provider().provision(gcpGrantDummy({ scope: { kind: 'gcp-role', roles: [] } }), ctx),
      ).rejects.toMatchObject({
        code: 'GCP.INVALID_GRANT',
      });
    });

    it('maps throttling and server errors to GCP.UNAVAILABLE and a bad body to GCP.BAD_RESPONSE', async () => {
      nock.cleanAll();
      nock(CRM)
        .post(`/v1/projects/${PROJECT}:getIamPolicy`)
        .reply(503, { error: { code: 503, status: 'UNAVAILABLE' } });
      await expect(provider().provision(gcpGrantDummy(), ctx)).rejects.toMatchObject({
        code: 'GCP.UNAVAILABLE',
        kind: 'unavailable',
      });
      nock(CRM).post(`/v1/projects/${PROJECT}:getIamPolicy`).reply(429, 'slow down');
      await expect(provider().provision(gcpGrantDummy(), ctx)).rejects.toMatchObject({ code: 'GCP.UNAVAILABLE' });
      nock(CRM).post(`/v1/projects/${PROJECT}:getIamPolicy`).reply(200, { bindings: 'nope' });
      await expect(provider().provision(gcpGrantDummy(), ctx)).rejects.toMatchObject({ code: 'GCP.BAD_RESPONSE' });
      nock(CRM).post(`/v1/projects/${PROJECT}:getIamPolicy`).reply(200, '<html>');
      await expect(provider().provision(gcpGrantDummy(), ctx)).rejects.toMatchObject({ code: 'GCP.BAD_RESPONSE' });
    });

    it('maps a failed token exchange to GCP.AUTH_FAILED without calling Resource Manager', async () => {
      crm.seed(PROJECT, []);
      const failing = { getAccessToken: async () => Promise.reject(new Error('STS said no')) };
      const err = await provider({ authClient: failing })
        .provision(gcpGrantDummy(), ctx)
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'GCP.AUTH_FAILED', kind: 'unavailable' });
      expect((err as Error).message).toContain('STS said no');
      expect(crm.calls).toHaveLength(0);
    });
  });

  describe('Method: revoke', () => {
    it('removes exactly the grant-titled bindings and nothing else', async () => {
      // Prepare
      crm.seed(PROJECT, UNRELATED);
      const grant = gcpGrantDummy({
        scope: { kind: 'gcp-role', roles: ['roles/bigquery.dataViewer', 'roles/bigquery.jobUser'] },
      });
      const p = provider();
      await p.provision(grant, ctx);

      // Act
      const details = await p.revoke({ ...grant, status: 'revoked' }, 'revoked', ctx);

      // Assess
      expect(crm.bindings(PROJECT).map((b) => JSON.stringify(b))).toEqual(UNRELATED.map((b) => JSON.stringify(b)));
      expect(details).toMatchObject({
        project: PROJECT,
        title: TITLE,
        why: 'revoked',
        removed: ['roles/bigquery.dataViewer', 'roles/bigquery.jobUser'],
        alreadyAbsent: false,
        writtenAt: '2026-11-24T10:00:05.000Z',
      });
      const write = crm.writes()[1]?.body as { policy: { version: number; etag: string }; updateMask: string };
      expect(write.policy.version).toBe(3);
      expect(write.updateMask).toBe('bindings,etag');
    });

    it('is fine when someone removed the binding by hand: no write, says so', async () => {
      // Prepare
      crm.seed(PROJECT, UNRELATED);
      const p = provider();
      await p.provision(gcpGrantDummy(), ctx);
      crm.edit(PROJECT, (b) => b.filter((x) => x.condition?.title !== TITLE));
      const writesBefore = crm.writes().length;

      // Act
      const details = await p.revoke(gcpGrantDummy({ status: 'expired' }), 'expired', ctx);

      // Assess
      expect(crm.writes()).toHaveLength(writesBefore);
      expect(details).toMatchObject({ removed: [], alreadyAbsent: true, writtenAt: null, why: 'expired' });
    });

    it('retries a conflicting revoke and keeps the concurrent change', async () => {
      crm.seed(PROJECT, []);
      const p = provider();
      await p.provision(gcpGrantDummy(), ctx);
      let raced = false;
      crm.afterGet = () => {
        if (raced) return;
        raced = true;
        crm.edit(PROJECT, (b) => [...b, { role: 'roles/logging.viewer', members: ['user:dan@corp.com'] }]);
      };
      const details = await p.revoke(gcpGrantDummy(), 'revoked', ctx);
      expect(details).toMatchObject({ attempts: 2, removed: ['roles/bigquery.dataViewer'] });
      expect(crm.bindings(PROJECT)).toEqual([{ role: 'roles/logging.viewer', members: ['user:dan@corp.com'] }]);
    });

    it('needs no roles: a grant whose scope is gone still loses its bindings', async () => {
      crm.seed(PROJECT, []);
      await provider().provision(gcpGrantDummy(), ctx);
      const details = await provider().revoke(gcpGrantDummy({ scope: null } as never), 'revoked', ctx);
      expect(details).toMatchObject({ removed: ['roles/bigquery.dataViewer'] });
      expect(crm.bindings(PROJECT)).toEqual([]);
    });

    it('turns a 403 into GCP.PERMISSION_DENIED and leaves the policy as it was', async () => {
      crm.seed(PROJECT, []);
      await provider().provision(gcpGrantDummy(), ctx);
      crm.readOnly.add(PROJECT);
      const before = JSON.stringify(crm.policies.get(PROJECT));
      await expect(provider().revoke(gcpGrantDummy(), 'revoked', ctx)).rejects.toMatchObject({
        code: 'GCP.PERMISSION_DENIED',
      });
      expect(JSON.stringify(crm.policies.get(PROJECT))).toBe(before);
    });
  });

  describe('Method: credentials', () => {
    it('answers the binding: where, what, until when, and the propagation delay', async () => {
      // Act
      const c = await provider().credentials(gcpGrantDummy(), 'credentials', ctx);

      // Assess
      expect(c).toEqual({
        kind: 'gcp-binding',
        expiresAt: new Date(EXPIRES),
        secret: {
          project: PROJECT,
          roles: ['roles/bigquery.dataViewer'],
          member: 'user:alice@corp.com',
          expiresAt: EXPIRES,
          consoleUrl: 'https://console.cloud.google.com/home/dashboard?project=acme-analytics',
          note: 'propagation typically ~2 min, sometimes 7+',
        },
        audit: {
          project: PROJECT,
          roles: ['roles/bigquery.dataViewer'],
          member: 'user:alice@corp.com',
          title: TITLE,
          requested: 'credentials',
        },
      });
      expect(crm.calls).toHaveLength(0);
    });

    it('answers the same for console, and never outlives the grant', async () => {
      const c = await provider().credentials(gcpGrantDummy(), 'console', ctx);
      expect(c.expiresAt.toISOString()).toBe(EXPIRES);
      expect(c.audit).toMatchObject({ requested: 'console' });
    });

    it('refuses token credentials', async () => {
      await expect(provider().credentials(gcpGrantDummy(), 'token', ctx)).rejects.toMatchObject({
        code: 'GCP.CREDENTIAL_KIND_UNSUPPORTED',
        kind: 'invalid',
      });
    });

    it('refuses while the binding is not in place', async () => {
      await expect(
        provider().credentials(gcpGrantDummy({ accessInPlace: false }), 'credentials', ctx),
      ).rejects.toMatchObject({
        code: 'GCP.BINDING_NOT_IN_PLACE',
      });
    });
  });

  describe('Function: createGcpProvider', () => {
    it('builds a gcp-role provider', () => {
      const p = createGcpProvider(gcpConfigDummy(), { log, authClient: staticAuth });
      expect(p.kind).toBe('gcp-role');
      expect(p).toBeInstanceOf(GcpAccessProvider);
    });
  });
});
