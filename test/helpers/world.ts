import { ManualClock } from '../../core/clock';
import { HOUR } from '../../core/duration';
import { GrantService, type GrantServiceDeps, type RequestInput } from '../../core/grant/service';
import { grantIdGenerator } from '../../core/ids';
import { type CompiledPolicy, compilePolicy } from '../../core/policy/compile';
import { loadPolicy } from '../../core/policy/load';
import { type Principal, principal } from '../../core/principal';
import {
  FakeProvider,
  FakeScheduler,
  MemoryEventStore,
  MemoryProjectionStore,
  RecordingLog,
  RecordingPublisher,
} from './memory';

/** A policy for lifecycle tests: one target of each kind, auto and 2-of-N rules, MFA and IP conditions. */
export const WORLD_POLICY = `
version: 1
settings:
  maxDuration: 8h
  pendingTimeout: 1h
  admins: [group:security]
groups:
  sre: [alice@corp.com, bob@corp.com]
  secops: [carol@corp.com, dan@corp.com, erin@corp.com]
  security: [sam@corp.com]
targets:
  prod-logs:
    kind: aws-role
    account: "111122223333"
    role: timebox-prod-logs
    actions: [s3:GetObject, s3:ListBucket]
    resources: ["arn:aws:s3:::prod-logs", "arn:aws:s3:::prod-logs/*"]
    maxDuration: 2h
  user-service:
    kind: grpc
    audience: user-service
    methods: [/acme.user.v1.UserService/*, /acme.admin.*]
  analytics:
    kind: gcp-role
    project: acme-analytics
    roles: [roles/bigquery.dataViewer]
    maxDuration: 4h
rules:
  - name: sre-reads-logs
    who: [group:sre]
    targets: [prod-logs]
    maxDuration: 1h
    approval: auto
  - name: sre-reads-users
    who: [group:sre]
    targets: [user-service]
    scopes: [/acme.user.v1.UserService/*]
    maxDuration: 2h
    approval: auto
  - name: admin-break-glass
    who: [group:sre]
    targets: [user-service]
    scopes: [/acme.admin.*]
    maxDuration: 30m
    approval: { from: group:secops, count: 2 }
  - name: analysts
    who: [group:sre]
    targets: [analytics]
    maxDuration: 4h
    approval: { from: group:secops, count: 1 }
    require: { mfa: true }
`;

export function compileYaml(text: string): CompiledPolicy {
  const loaded = loadPolicy(text);
  if (!loaded.ok) throw new Error(loaded.problems.map((p) => `${p.path} (line ${p.line}): ${p.message}`).join('\n'));
  return compilePolicy(loaded.policy);
}

export const alice = principal({ id: 'alice@corp.com', sourceIp: '10.1.2.3' });
export const bob = principal({ id: 'bob@corp.com', sourceIp: '10.1.2.4' });
export const carol = principal({ id: 'carol@corp.com', mfa: true });
export const dan = principal({ id: 'dan@corp.com', mfa: true });
export const erin = principal({ id: 'erin@corp.com', mfa: true });
export const sam = principal({ id: 'sam@corp.com', mfa: true });
export const mallory = principal({ id: 'mallory@corp.com' });

/**
 * A GrantService over the given stores, with doubles for every other port: the world policy, a fixed clock (a
 * Tuesday, 10:00 UTC), fake providers for the three target kinds, no waiting between retries. Any port can be given.
 */
export function grantServiceOver(
  d: Pick<GrantServiceDeps, 'events' | 'projections'> & Partial<GrantServiceDeps>,
): GrantService {
  const clock = d.clock ?? new ManualClock('2026-11-24T10:00:00Z');
  const compiled = compileYaml(WORLD_POLICY);
  return new GrantService({
    scheduler: new FakeScheduler(),
    providers: {
      'aws-role': new FakeProvider('aws-role'),
      'gcp-role': new FakeProvider('gcp-role'),
      grpc: new FakeProvider('grpc'),
    },
    publisher: new RecordingPublisher(),
    ids: grantIdGenerator(clock),
    policy: () => compiled,
    log: new RecordingLog(),
    sleep: async () => {},
    ...d,
    clock,
  });
}

/** A fresh broker over in-memory doubles at a fixed time (a Tuesday, 10:00 UTC). */
export function world(policyText = WORLD_POLICY, start = '2026-11-24T10:00:00Z') {
  const clock = new ManualClock(start);
  const events = new MemoryEventStore();
  const projections = new MemoryProjectionStore();
  const scheduler = new FakeScheduler();
  const providers = {
    'aws-role': new FakeProvider('aws-role'),
    'gcp-role': new FakeProvider('gcp-role'),
    grpc: new FakeProvider('grpc'),
  };
  const publisher = new RecordingPublisher();
  const log = new RecordingLog();
  let compiled = compileYaml(policyText);
  const service = grantServiceOver({
    events,
    projections,
    scheduler,
    providers,
    publisher,
    clock,
    policy: () => compiled,
    log,
  });
  return {
    clock,
    events,
    projections,
    scheduler,
    providers,
    publisher,
    log,
    service,
    policy: () => compiled,
    setPolicy(text: string) {
      compiled = compileYaml(text);
    },
    /** Fires due schedules the way EventBridge Scheduler would. */
    async fireSchedules() {
      for (const [id, action] of scheduler.due(clock.now())) {
        await scheduler.cancel(id, action);
        if (action === 'expire') await service.expire(id);
        else await service.activate(id);
      }
    },
  };
}

/** A request with sensible defaults; override what the test is about. */
export function requestDummy(partial: Partial<RequestInput> = {}): RequestInput {
  return { target: 'prod-logs', duration: 30 * 60_000, reason: 'INC-123 investigating', ...partial };
}

export const asPrincipal = (p: Partial<Principal> & { id: string }) => principal(p);
export { HOUR };
