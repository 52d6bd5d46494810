import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import nock from 'nock';
import type { IamBinding } from '../../../adapters/gcp/policy';
import { planAdd, planRemove } from '../../../adapters/gcp/policy';
import { GcpAccessProvider } from '../../../adapters/gcp/provider';
import { gcpBindings } from '../../../core/builders/gcp';
import { silentLog } from '../../../core/ports';
import { FakeCrm } from './fake-crm';
import { gcpConfigDummy, gcpGrantDummy, NOW, noSleep, PROJECT, staticAuth } from './fixtures';

const GRANT = gcpGrantDummy({
  scope: { kind: 'gcp-role', roles: ['roles/bigquery.dataViewer', 'roles/bigquery.jobUser'] },
});
const TITLE = `timebox:${GRANT.id}`;

const role = fc.constantFrom(
  'roles/bigquery.dataViewer',
  'roles/bigquery.jobUser',
  'roles/owner',
  'roles/logging.viewer',
  'projects/acme-analytics/roles/custom.reader',
);
const member = fc.constantFrom(
  'user:alice@corp.com',
  'user:bob@corp.com',
  'group:analysts@corp.com',
  'serviceAccount:ci@acme-ci.iam.gserviceaccount.com',
  'domain:corp.com',
);
const title = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.constantFrom(
    TITLE,
    `${TITLE}x`,
    TITLE.toUpperCase(),
    ` ${TITLE}`,
    'timebox:tb-someoneelse00000000000000000',
    'timebox:',
  ),
);
const condition = fc.record(
  {
    title,
    description: fc.string({ maxLength: 30 }),
    expression: fc.constantFrom("request.time < timestamp('2030-01-01T00:00:00Z')", 'true'),
  },
  { requiredKeys: ['expression'] },
);
const binding: fc.Arbitrary<IamBinding> = fc
  .record({
    role,
    members: fc.uniqueArray(member, { minLength: 1, maxLength: 3 }),
    condition: fc.option(condition, { nil: undefined }),
  })
  // GCP never stores a condition on a basic role, so such policies cannot exist.
  .map(({ condition: c, ...b }) => (c === undefined || b.role === 'roles/owner' ? b : { ...b, condition: c }));
const bindings = fc.array(binding, { maxLength: 25 });

const mine = (b: IamBinding) => b.condition?.title === TITLE;
const bytes = (bs: readonly IamBinding[]) => bs.map((b) => JSON.stringify(b));

describe('Property: provision then revoke', () => {
  let crm: FakeCrm;
  beforeAll(() => {
    nock.disableNetConnect();
    crm = new FakeCrm();
    crm.install();
  });
  afterAll(() => {
    nock.cleanAll();
    nock.enableNetConnect();
  });

  it('leaves every binding that is not this grant exactly as it was (over HTTP, with concurrent writers)', async () => {
    await fc.assert(
      fc.asyncProperty(bindings, fc.option(binding, { nil: undefined }), async (existing, concurrent) => {
        // Prepare: a random policy, and maybe someone else writing once while we work.
        crm.seed(PROJECT, existing, { auditConfigs: [{ service: 'allServices' }] });
        crm.calls.length = 0;
        let raced = false;
        crm.afterGet = () => {
          if (raced || !concurrent || concurrent.condition?.title === TITLE) return;
          raced = true;
          crm.edit(PROJECT, (b) => [...b, concurrent]);
        };
        const provider = new GcpAccessProvider(gcpConfigDummy(), {
          log: silentLog,
          authClient: staticAuth,
          sleep: noSleep,
        });

        // Act
        let provisioned = true;
        try {
          await provider.provision(GRANT, { now: NOW });
        } catch (e) {
          // Only the documented limits may refuse; then nothing was written.
          expect((e as { code?: string }).code).toMatch(/^GCP\.(SAME_ROLE_MEMBER_LIMIT|CONDITIONAL_BINDING_LIMIT)$/);
          expect(crm.writes()).toHaveLength(0);
          provisioned = false;
        }
        if (provisioned) {
          const during = crm.bindings(PROJECT);
          expect(during.filter(mine).map((b) => b.role)).toEqual(
            expect.arrayContaining(['roles/bigquery.dataViewer', 'roles/bigquery.jobUser']),
          );
        }
        await provider.revoke(GRANT, 'revoked', { now: NOW });

        // Assess: the policy is the original (plus the concurrent write), minus this grant's bindings, byte for byte.
        const expected = [...existing, ...(raced && concurrent ? [concurrent] : [])].filter((b) => !mine(b));
        expect(bytes(crm.bindings(PROJECT))).toEqual(bytes(expected));
        expect(crm.policies.get(PROJECT)?.auditConfigs).toEqual([{ service: 'allServices' }]);
      }),
      { numRuns: 100 },
    );
    // Each run is four HTTP round trips through nock; generous so a busy shared CPU does not fail it.
  }, 60_000);
});

describe('Property: planAdd / planRemove', () => {
  const wanted = gcpBindings({
    grantId: GRANT.id,
    member: 'user:alice@corp.com',
    roles: ['roles/bigquery.dataViewer', 'roles/bigquery.jobUser'],
    expiresAt: new Date(GRANT.expiresAt),
  });

  it('planAdd keeps every other binding as the same object, in order, and is idempotent', () => {
    fc.assert(
      fc.property(bindings, (existing) => {
        const plan = planAdd(existing, wanted);
        const after = plan.bindings ?? existing;
        const others = existing.filter((b) => !mine(b));
        expect(after.filter((b) => !mine(b))).toEqual(others);
        const kept = after.filter((b) => !mine(b));
        expect(kept.every((b, i) => b === others[i])).toBe(true);
        expect(planAdd(after, wanted).bindings).toBeNull();
      }),
      { numRuns: 500 },
    );
  });

  it('planRemove removes exactly the titled bindings', () => {
    fc.assert(
      fc.property(bindings, (existing) => {
        const plan = planRemove(existing, TITLE);
        expect(plan.bindings ?? existing).toEqual(existing.filter((b) => !mine(b)));
        expect(plan.removed).toEqual(existing.filter(mine).map((b) => b.role));
      }),
      { numRuns: 500 },
    );
  });
});
