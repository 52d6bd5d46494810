import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import nock from 'nock';
import { GcpAccessProvider } from '../../../adapters/gcp/provider';
import { ManualClock } from '../../../core/clock';
import { GrantService } from '../../../core/grant/service';
import { grantIdGenerator } from '../../../core/ids';
import { principal } from '../../../core/principal';
import {
  FakeProvider,
  FakeScheduler,
  MemoryEventStore,
  MemoryProjectionStore,
  RecordingLog,
  RecordingPublisher,
} from '../../helpers/memory';
import { carol, compileYaml, WORLD_POLICY } from '../../helpers/world';
import { FakeCrm } from './fake-crm';
import { gcpConfigDummy, noSleep, PROJECT, staticAuth } from './fixtures';

/** The GrantService over in-memory stores, with the real GCP provider against the Resource Manager stand-in. */
function gcpWorld(crm: FakeCrm) {
  const clock = new ManualClock('2026-11-24T10:00:00Z');
  const log = new RecordingLog();
  const gcp = new GcpAccessProvider(gcpConfigDummy({ projects: [PROJECT] }), {
    log,
    authClient: staticAuth,
    sleep: noSleep,
    clock,
  });
  const events = new MemoryEventStore();
  const compiled = compileYaml(WORLD_POLICY);
  const service = new GrantService({
    events,
    projections: new MemoryProjectionStore(),
    scheduler: new FakeScheduler(),
    providers: { 'gcp-role': gcp, 'aws-role': new FakeProvider('aws-role'), grpc: new FakeProvider('grpc') },
    publisher: new RecordingPublisher(),
    clock,
    ids: grantIdGenerator(clock),
    policy: () => compiled,
    log,
    sleep: noSleep,
  });
  return { clock, service, events, crm };
}

const alice = principal({ id: 'alice@corp.com', mfa: true, sourceIp: '10.1.2.3' });
const UNRELATED = { role: 'roles/logging.viewer', members: ['user:bob@corp.com'] };

describe('Class: GrantService with GcpAccessProvider', () => {
  let crm: FakeCrm;
  beforeEach(() => {
    nock.disableNetConnect();
    crm = new FakeCrm();
    crm.install();
    crm.seed(PROJECT, [UNRELATED]);
  });
  afterEach(() => {
    nock.cleanAll();
    nock.enableNetConnect();
  });

  it('approval adds the expiring binding, credentials describe it, expiry removes it; all on the record', async () => {
    // Prepare
    const w = gcpWorld(crm);
    const { grant } = await w.service.request(alice, {
      target: 'analytics',
      duration: 2 * 3_600_000,
      reason: 'INC-123',
    });
    expect(grant.status).toBe('pending');

    // Act: approval activates and provisions.
    const active = await w.service.approve(grant.id, carol);

    // Assess: the binding is there, titled by the grant, ending at expiry.
    expect(active.status).toBe('active');
    expect(active.accessInPlace).toBe(true);
    const title = `timebox:${grant.id}`;
    expect(crm.bindings(PROJECT)).toEqual([
      UNRELATED,
      {
        role: 'roles/bigquery.dataViewer',
        members: ['user:alice@corp.com'],
        condition: {
          title,
          description: `Timebox grant ${grant.id}: INC-123`,
          expression: "request.time < timestamp('2026-11-24T12:00:00Z')",
        },
      },
    ]);
    const provisioned = (await w.events.read(grant.id)).find((e) => e.type === 'access-provisioned');
    expect(provisioned?.data).toMatchObject({ details: { writtenAt: '2026-11-24T10:00:00.000Z', title } });

    // Act: credentials.
    const { credential } = await w.service.issueCredentials(grant.id, alice, 'credentials');
    expect(credential).toMatchObject({
      kind: 'gcp-binding',
      secret: { project: PROJECT, member: 'user:alice@corp.com' },
    });

    // Act: expiry.
    w.clock.set('2026-11-24T12:00:01Z');
    const ended = await w.service.expire(grant.id);

    // Assess
    expect(ended.status).toBe('expired');
    expect(ended.accessInPlace).toBe(false);
    expect(crm.bindings(PROJECT)).toEqual([UNRELATED]);
    const types = (await w.events.read(grant.id)).map((e) => e.type);
    expect(types).toEqual([
      'requested',
      'approved',
      'activated',
      'access-provisioned',
      'credentials-issued',
      'expired',
      'access-removed',
    ]);
  });

  it('a 403 is recorded as access-failed with its code, and the sweeper provisions once permission is there', async () => {
    // Prepare
    const w = gcpWorld(crm);
    crm.readOnly.add(PROJECT);
    const { grant } = await w.service.request(alice, { target: 'analytics', duration: 3_600_000, reason: 'INC-9' });

    // Act
    const active = await w.service.approve(grant.id, carol);

    // Assess
    expect(active.cleanupNeeded).toBe(true);
    const failed = (await w.events.read(grant.id)).find((e) => e.type === 'access-failed');
    expect(failed?.data).toMatchObject({ step: 'provision', error: { code: 'GCP.PERMISSION_DENIED' } });
    expect(crm.bindings(PROJECT)).toEqual([UNRELATED]);
    await expect(w.service.issueCredentials(grant.id, alice, 'credentials')).rejects.toMatchObject({
      code: 'GCP.BINDING_NOT_IN_PLACE',
    });

    // Act: permission granted (pulumi up), the sweeper retries.
    crm.readOnly.delete(PROJECT);
    expect(await w.service.retryCleanup(grant.id)).toBe(false); // retries back off for a minute after a failure
    w.clock.advance(60_000);
    expect(await w.service.retryCleanup(grant.id)).toBe(true);

    // Assess
    expect(crm.bindings(PROJECT)).toHaveLength(2);
    expect((await w.service.load(grant.id)).accessInPlace).toBe(true);
  });
});
