import { beforeAll, describe, expect, it } from '@jest/globals';
import { targetRolePolicy } from '../../core/builders/aws-iam';
import { sha256Hex } from '../../core/canonical';
import { readPolicyBundle } from '../../core/policy/json';
import { loadPolicy } from '../../core/policy/load';
import { ENV, LAMBDA_ENV } from '../../lambdas/config';
import { handlerPolicy } from '../../stacks/policies';
// Importing the program declares nothing: resources register only when timebox() runs, after setMocks.
import { type TimeboxOutputs, timebox } from '../../stacks/program';
import { expectWith } from '../helpers/runner';
import {
  ACCOUNT,
  configDummy,
  docOf,
  FAKE_BUNDLE_FILES,
  fakeBundles,
  installMocks,
  type MockWorld,
  POLICY_YAML,
  projectWithPolicy,
  promiseOf,
  REGION,
  type Recorded,
  resolveAll,
  SPOKE_ACCOUNT,
} from './helpers/pulumi-mocks';

/**
 * The whole hub program under Pulumi mocks: every resource it declares is recorded with its inputs and options,
 * and the assertions read those, so they hold for what `pulumi up` would send to AWS.
 */

const T = {
  table: 'aws:dynamodb/table:Table',
  role: 'aws:iam/role:Role',
  rolePolicy: 'aws:iam/rolePolicy:RolePolicy',
  policy: 'aws:iam/policy:Policy',
  fn: 'aws:lambda/function:Function',
  key: 'aws:kms/key:Key',
  queue: 'aws:sqs/queue:Queue',
  method: 'aws:apigateway/method:Method',
  resource: 'aws:apigateway/resource:Resource',
  trail: 'aws:cloudtrail/trail:Trail',
  bucket: 'aws:s3/bucket:Bucket',
  pab: 'aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock',
  bucketPolicy: 'aws:s3/bucketPolicy:BucketPolicy',
};

let world: MockWorld;
let out: TimeboxOutputs;
const HANDLERS = ['api', 'revoke', 'sweeper'];
const dist = fakeBundles(HANDLERS);
const project = projectWithPolicy(POLICY_YAML);
const config = () =>
  configDummy({
    spokeAccounts: JSON.stringify([SPOKE_ACCOUNT]),
    gcp: JSON.stringify({ hostProject: 'acme-identity', members: { rules: [{ suffix: '@corp.com', type: 'user' }] } }),
  });

beforeAll(async () => {
  world = await installMocks();
  out = await timebox({ config: config(), projectDir: project, distDir: dist });
  await resolveAll(out);
  await world.settle();
});

/** The policy as the program validates it from POLICY_YAML. */
function expectedPolicy() {
  const loaded = loadPolicy(POLICY_YAML);
  if (!loaded.ok) throw new Error('POLICY_YAML does not load');
  return JSON.parse(JSON.stringify(loaded.policy));
}

const fnNamed = (h: string) => world.one(T.fn, `broker-${h}`);
const roleNamed = (h: string) => world.one(T.role, `broker-${h}-role`);
const policyOfRole = (h: string) => docOf(world.one(T.rolePolicy, `broker-${h}-policy`).inputs.policy);
const eventsArn = () => world.one(T.table, 'broker-events').state.arn as string;

/** Every IAM document any resource carries: role, key, bucket, API and boundary policies, trust policies. */
function allDocuments(): { where: string; doc: ReturnType<typeof docOf> }[] {
  const out: { where: string; doc: ReturnType<typeof docOf> }[] = [];
  for (const r of world.resources) {
    for (const field of ['policy', 'assumeRolePolicy']) {
      const v = r.inputs[field];
      if (typeof v === 'string' && v.includes('"Statement"')) out.push({ where: `${r.name}.${field}`, doc: docOf(v) });
    }
  }
  return out;
}

function asList(v: unknown): string[] {
  return v === undefined ? [] : Array.isArray(v) ? (v as string[]) : [v as string];
}

describe('Program: timebox (hub stack)', () => {
  describe('Component: Targets', () => {
    const hubTargets = ['prod-logs', 'prod-db-read'];

    it('creates one role per hub aws-role target, under /timebox/, with the boundary and a 1 h session cap', async () => {
      const boundary = world.one(T.policy, 'boundary-policy');
      const targetRoles = world.ofType(T.role).filter((r) => r.name.startsWith('targets-'));
      expect(targetRoles.map((r) => r.name).sort()).toEqual(hubTargets.map((t) => `targets-${t}`).sort());
      for (const r of targetRoles) {
        expect(r.inputs.path).toBe('/timebox/');
        expect(r.inputs.permissionsBoundary).toBe(boundary.state.arn);
        expect(r.inputs.maxSessionDuration).toBe(3600);
      }
      expect(boundary.state.arn).toBe(`arn:aws:iam::${ACCOUNT}:policy/timebox/timebox-prod-boundary`);
      expect(world.one(T.role, 'targets-prod-logs').inputs.name).toBe('timebox-prod-logs');
    });

    it('does not create roles for spoke targets, but reports their ARNs', async () => {
      expect(world.ofType(T.role).some((r) => r.inputs.name === 'timebox-spoke-logs')).toBe(false);
      const arns = await promiseOf(out.targetRoleArns);
      expect(arns).toEqual({
        'prod-logs': `arn:aws:iam::${ACCOUNT}:role/timebox/timebox-prod-logs`,
        'prod-db-read': `arn:aws:iam::${ACCOUNT}:role/timebox/timebox-prod-db-read`,
        'spoke-logs': `arn:aws:iam::${SPOKE_ACCOUNT}:role/timebox/timebox-spoke-logs`,
      });
    });

    it('trusts only the api role, and requires a source identity and the grant session tag', () => {
      const apiRoleArn = roleNamed('api').state.arn;
      for (const t of hubTargets) {
        const trust = docOf(world.one(T.role, `targets-${t}`).inputs.assumeRolePolicy);
        for (const s of trust.Statement) expect(s.Principal).toEqual({ AWS: apiRoleArn });
        const assume = trust.Statement.find((s) => asList(s.Action).includes('sts:AssumeRole'));
        // Without the tag an assumed session could never be matched by the revocation deny.
        expect(assume?.Condition).toEqual({
          Null: { 'sts:SourceIdentity': 'false', 'aws:RequestTag/timebox-grant': 'false' },
        });
        const tag = trust.Statement.find((s) => asList(s.Action).includes('sts:TagSession'));
        expect(tag?.Condition).toEqual({
          Null: { 'aws:RequestTag/timebox-grant': 'false' },
          'ForAllValues:StringEquals': { 'aws:TagKeys': ['timebox-grant'] },
        });
      }
    });

    it("gives each role exactly its target's policy", () => {
      const policy = (name: string) =>
        docOf(world.one(T.rolePolicy, `targets-${name}-policy`).inputs.policy) as unknown as object;
      expect(policy('prod-logs')).toEqual(
        targetRolePolicy({
          kind: 'aws-role',
          name: 'prod-logs',
          account: ACCOUNT,
          role: 'timebox-prod-logs',
          actions: ['s3:GetObject', 's3:ListBucket'],
          resources: ['arn:aws:s3:::prod-logs', 'arn:aws:s3:::prod-logs/*'],
          partition: 'aws',
        }),
      );
    });
  });

  describe('Component: Boundary', () => {
    it('caps targets at what access.yaml allows and denies the broker, its audit record and keys', () => {
      const boundary = docOf(world.one(T.policy, 'boundary-policy').inputs.policy);
      const allowed = boundary.Statement.filter((s) => s.Effect === 'Allow').flatMap((s) => asList(s.Action));
      expect(allowed.sort()).toEqual(['dynamodb:GetItem', 'dynamodb:Query', 's3:GetObject', 's3:ListBucket']);
      const denied = boundary.Statement.find((s) => s.Sid === 'TimeboxProtectBroker');
      const protectedArns = asList(denied?.Resource);
      const key = world.one(T.key, 'broker-signing-key').state.arn as string;
      const trailKey = world.one(T.key, 'audit-key').state.arn as string;
      const bucket = world.one(T.bucket, 'audit-bucket').state.arn as string;
      const trail = `arn:aws:cloudtrail:${REGION}:${ACCOUNT}:trail/timebox-prod`;
      for (const arn of [eventsArn(), `${eventsArn()}/*`, key, trailKey, bucket, `${bucket}/*`, trail])
        expect(protectedArns).toContain(arn);
      expect(denied?.Action).toBe('*');
      expect(denied?.Effect).toBe('Deny');
    });
  });

  describe('Component: Broker', () => {
    it('keeps the events table append-only: no role may update or delete its items', () => {
      const table = eventsArn();
      const offending = world
        .ofType(T.rolePolicy)
        .flatMap((r) => docOf(r.inputs.policy).Statement.map((s) => ({ r: r.name, s })))
        .filter(({ s }) => s.Effect === 'Allow')
        .filter(({ s }) =>
          asList(s.Action).some((a) => ['dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:*', '*'].includes(a)),
        )
        .filter(({ s }) =>
          asList(s.Resource).some((res) => res === '*' || res === table || res.startsWith(`${table}`)),
        );
      expect(offending).toEqual([]);
      // The events table is written at all (append), or the test would pass vacuously.
      expect(JSON.stringify(policyOfRole('api'))).toContain(table);
    });

    it('gives every handler its own role carrying exactly the document built for it', () => {
      const state = (type: string, name: string, field = 'arn') => world.one(type, name).state[field] as string;
      const context = {
        partition: 'aws',
        region: REGION,
        account: ACCOUNT,
        spokeAccounts: [SPOKE_ACCOUNT],
        eventsTableArn: eventsArn(),
        grantsTableArn: state(T.table, 'broker-grants'),
        signingKeyArn: state(T.key, 'broker-signing-key'),
        schedulerGroupName: 'timebox-prod',
        schedulerRoleArn: state(T.role, 'broker-scheduler-role'),
        eventBusArn: state('aws:cloudwatch/eventBus:EventBus', 'broker-bus'),
        deadLetterQueueArn: state(T.queue, 'broker-dlq'),
        boundaryArn: `arn:aws:iam::${ACCOUNT}:policy/timebox/timebox-prod-boundary`,
      };
      for (const h of HANDLERS) {
        const logGroup = state('aws:cloudwatch/logGroup:LogGroup', `broker-${h}-logs`);
        expect(policyOfRole(h)).toEqual(handlerPolicy(h, context, logGroup));
        expect(fnNamed(h).inputs.role).toBe(roleNamed(h).state.arn);
      }
      const roles = new Set(HANDLERS.map((h) => fnNamed(h).inputs.role));
      expect(roles.size).toBe(3);
    });

    it('lets only the api vend credentials and sign, and only the sweeper delete revocation policies', () => {
      const actions = (h: string) => policyOfRole(h).Statement.flatMap((s) => asList(s.Action));
      expect(actions('api')).toEqual(expect.arrayContaining(['sts:AssumeRole', 'sts:TagSession', 'kms:Sign']));
      for (const h of ['revoke', 'sweeper']) {
        expect(actions(h)).not.toContain('kms:Sign');
        expect(actions(h)).not.toContain('sts:TagSession');
      }
      expect(HANDLERS.filter((h) => actions(h).includes('iam:DeleteRolePolicy'))).toEqual(['sweeper']);
    });

    it('runs every function on Node 22, arm64, with its modules, source maps and policy bundle', async () => {
      for (const h of HANDLERS) {
        const f = fnNamed(h).inputs;
        expect(f.runtime).toBe('nodejs22.x');
        expect(f.architectures).toEqual(['arm64']);
        expect(f.handler).toBe('index.handler');
        expect(f.name).toBe(`timebox-prod-${h}`);
        // The mocks hand back the archive object; its assets (and their path/text) are promises.
        const assets = await (f.code as { assets: Promise<Record<string, { path: unknown; text: unknown }>> }).assets;
        // Every module the build wrote (entry and chunks, with maps), never meta.json; and the policy bundle.
        expect(Object.keys(assets).sort()).toEqual([...FAKE_BUNDLE_FILES, 'policy.json'].sort());
        for (const f of FAKE_BUNDLE_FILES) expect(await assets[f]?.path).toBe(`${dist}/${h}/${f}`);
        // The policy as validated at preview, tied to the exact access.yaml text; functions parse no YAML.
        const bundle = readPolicyBundle((await assets['policy.json']?.text) as string);
        expect(bundle.sourceSha256).toBe(sha256Hex(POLICY_YAML));
        expect(bundle.policy).toEqual(expectedPolicy());
      }
    });

    it('sets exactly the environment each handler declares (lambdas/config.ts LAMBDA_ENV)', () => {
      for (const h of HANDLERS) {
        const env = (fnNamed(h).inputs.environment as { variables: Record<string, string> }).variables;
        const spec = LAMBDA_ENV[h as keyof typeof LAMBDA_ENV];
        for (const name of spec.required) expectWith(env[name], `${h} ${name}`).toBeTruthy();
        expect(Object.keys(env).every((k) => [...spec.required, ...spec.optional].includes(k as never))).toBe(true);
      }
      const api = (fnNamed('api').inputs.environment as { variables: Record<string, string> }).variables;
      expect(JSON.parse(api[ENV.identity] as string)).toEqual(config().identity);
      expect(api[ENV.issuer]).toBe(`https://broker-api-id.execute-api.${REGION}.amazonaws.com/live`);
      expect(api[ENV.kmsKeyId]).toBe(world.one(T.key, 'broker-signing-key').state.arn);
      expect(api[ENV.revokeFunctionArn]).toBe(fnNamed('revoke').state.arn);
      const sweeper = (fnNamed('sweeper').inputs.environment as { variables: Record<string, string> }).variables;
      expect(sweeper[ENV.identity]).toBeUndefined();
      expect(sweeper[ENV.kmsKeyId]).toBeUndefined();
    });

    it('wires the dead-letter queue to the schedules and to the revoke function', () => {
      const dlq = world.one(T.queue, 'broker-dlq');
      expect(dlq.inputs.sqsManagedSseEnabled).toBe(true);
      expect(dlq.inputs.fifoQueue).toBeUndefined();
      for (const h of HANDLERS) {
        const env = (fnNamed(h).inputs.environment as { variables: Record<string, string> }).variables;
        expect(env[ENV.schedulerDlqArn]).toBe(dlq.state.arn);
      }
      expect(fnNamed('revoke').inputs.deadLetterConfig).toEqual({ targetArn: dlq.state.arn });
      const scheduler = docOf(world.one(T.rolePolicy, 'broker-scheduler-policy').inputs.policy);
      expect(scheduler.Statement).toEqual([
        {
          Sid: 'InvokeRevoke',
          Effect: 'Allow',
          Action: 'lambda:InvokeFunction',
          Resource: [fnNamed('revoke').state.arn, `${fnNamed('revoke').state.arn}:*`],
        },
        { Sid: 'DeadLetter', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: dlq.state.arn },
      ]);
      expect(world.one('aws:scheduler/scheduleGroup:ScheduleGroup', 'broker-schedules').inputs.name).toBe(
        'timebox-prod',
      );
    });

    it('creates the revoke function only after its role may reach the dead-letter queue', () => {
      const deps = fnNamed('revoke').options.dependencies;
      expect(deps.some((urn) => urn.endsWith('broker-revoke-policy'))).toBe(true);
    });

    it('runs the sweeper every minute', () => {
      const rule = world.one('aws:cloudwatch/eventRule:EventRule', 'broker-sweep');
      expect(rule.inputs.scheduleExpression).toBe('rate(1 minute)');
      expect(world.one('aws:cloudwatch/eventTarget:EventTarget', 'broker-sweep-target').inputs.arn).toBe(
        fnNamed('sweeper').state.arn,
      );
      const permission = world.one('aws:lambda/permission:Permission', 'broker-sweep-invoke').inputs;
      expect(permission.principal).toBe('events.amazonaws.com');
      expect(permission.sourceArn).toBe(rule.state.arn);
    });

    it('archives every lifecycle event of the bus for the configured days, as a witness of the audit record', () => {
      const archive = world.one('aws:cloudwatch/eventArchive:EventArchive', 'broker-archive').inputs;
      expect(archive.eventSourceArn).toBe(world.one('aws:cloudwatch/eventBus:EventBus', 'broker-bus').state.arn);
      expect(JSON.parse(archive.eventPattern as string)).toEqual({ source: ['timebox'] });
      expect(archive.retentionDays).toBe(365);
    });

    it('requires SigV4 on every API method except the public GETs', () => {
      const methods = world.ofType(T.method);
      const open = methods.filter((m) => m.inputs.authorization !== 'AWS_IAM');
      expect(open.every((m) => m.inputs.authorization === 'NONE' && m.inputs.httpMethod === 'GET')).toBe(true);
      // Map each open method back to its path through the recorded resources.
      const resources = world.ofType(T.resource);
      const byId = new Map(resources.map((r) => [`${r.name}-id`, r]));
      const pathOf = (id: string): string => {
        const r = byId.get(id);
        return r ? `${pathOf(r.inputs.parentId as string)}/${r.inputs.pathPart}` : '';
      };
      expect(open.map((m) => pathOf(m.inputs.resourceId as string)).sort()).toEqual([
        '/.well-known/jwks.json',
        '/.well-known/timebox/revocations.json',
        '/healthz',
      ]);
      const proxy = methods.filter((m) => m.inputs.authorization === 'AWS_IAM');
      expect(proxy.map((m) => [pathOf(m.inputs.resourceId as string), m.inputs.httpMethod])).toEqual([
        ['/{proxy+}', 'ANY'],
      ]);
    });

    it('limits callers with a resource policy, logs access and throttles', () => {
      const policy = docOf(world.one('aws:apigateway/restApiPolicy:RestApiPolicy', 'broker-api-policy').inputs.policy);
      expect(policy.Statement.find((s) => s.Sid === 'AllowedAccounts')?.Condition).toEqual({
        StringEquals: { 'aws:PrincipalAccount': ACCOUNT },
      });
      expect(policy.Statement.find((s) => s.Sid === 'DenyOtherCallers')?.Effect).toBe('Deny');
      // timebox:identity admits AWSReservedSSO_* in ACCOUNT: only roles under Identity Center's reserved path.
      expect(policy.Statement.find((s) => s.Sid === 'DenyUntrustedPrincipals')).toMatchObject({
        Effect: 'Deny',
        Condition: {
          Null: { 'aws:PrincipalArn': 'false' },
          StringNotLike: {
            'aws:PrincipalArn': [
              `arn:aws:iam::${ACCOUNT}:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_*`,
              `arn:aws:iam::${ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_*`,
            ],
          },
        },
      });
      const stage = world.one('aws:apigateway/stage:Stage', 'broker-stage').inputs;
      expect((stage.accessLogSettings as { destinationArn: string }).destinationArn).toBe(
        world.one('aws:cloudwatch/logGroup:LogGroup', 'broker-access-logs').state.arn,
      );
      const settings = world.one('aws:apigateway/methodSettings:MethodSettings', 'broker-throttle').inputs;
      expect(settings.methodPath).toBe('*/*');
      expect(settings.settings).toMatchObject({ throttlingRateLimit: 20, throttlingBurstLimit: 40 });
      // A resource policy change only takes effect on a new deployment: the deployment is keyed on it.
      const deployment = world.one('aws:apigateway/deployment:Deployment', 'broker-deployment');
      expect((deployment.inputs.triggers as { redeployment: string }).redeployment).toContain('DenyOtherCallers');
    });

    it('signs tokens with an ECC P-256 SIGN_VERIFY key only the api role may use', () => {
      const key = world.one(T.key, 'broker-signing-key').inputs;
      expect(key.customerMasterKeySpec).toBe('ECC_NIST_P256');
      expect(key.keyUsage).toBe('SIGN_VERIFY');
      const users = docOf(key.policy).Statement.filter((s) => asList(s.Action).includes('kms:Sign'));
      expect(users.map((s) => s.Principal)).toEqual([{ AWS: roleNamed('api').state.arn }]);
      // The key policy grants on its own: the signer's message type and algorithm are enforced there.
      expect(users.map((s) => s.Condition)).toEqual([
        { StringEquals: { 'kms:MessageType': 'DIGEST', 'kms:SigningAlgorithm': 'ECDSA_SHA_256' } },
      ]);
    });

    it('protects both tables (PITR, deletion protection, KMS at rest) and keeps the events table on destroy', () => {
      for (const name of ['broker-events', 'broker-grants']) {
        const t = world.one(T.table, name).inputs;
        expect(t.billingMode).toBe('PAY_PER_REQUEST');
        expect(t.pointInTimeRecovery).toEqual({ enabled: true });
        expect(t.deletionProtectionEnabled).toBe(true);
        expect(t.serverSideEncryption).toEqual({ enabled: true });
      }
      expect(world.one(T.table, 'broker-events').options.retainOnDelete).toBe(true);
      expect(world.one(T.table, 'broker-events').inputs.hashKey).toBe('grantId');
    });

    it('alarms on dead letters, revoke errors and sweeper errors', () => {
      const alarms = world.ofType('aws:cloudwatch/metricAlarm:MetricAlarm');
      const summary = alarms.map((a) => [a.inputs.namespace, a.inputs.metricName, a.inputs.threshold]);
      expect(summary).toEqual([
        ['AWS/SQS', 'ApproximateNumberOfMessagesVisible', 0],
        ['AWS/Lambda', 'Errors', 0],
        ['AWS/Lambda', 'Errors', 0],
      ]);
      const topic = world.one('aws:sns/topic:Topic', 'broker-alarms').state.arn;
      for (const a of alarms) expect(a.inputs.alarmActions).toEqual([topic]);
      expect(world.ofType('aws:sns/topicSubscription:TopicSubscription')).toEqual([]);
    });
  });

  describe('Component: AuditTrail', () => {
    it('records every region with log file validation, and the audit table writes as data events', () => {
      const trail = world.one(T.trail, 'audit-trail').inputs;
      expect(trail.isMultiRegionTrail).toBe(true);
      expect(trail.enableLogFileValidation).toBe(true);
      expect(trail.includeGlobalServiceEvents).toBe(true);
      expect(trail.kmsKeyId).toBe(world.one(T.key, 'audit-key').state.arn);
      const selectors = trail.advancedEventSelectors as { fieldSelectors: { field: string; equals: string[] }[] }[];
      const data = selectors.find((s) => s.fieldSelectors.some((f) => f.field === 'resources.ARN'));
      expect(data?.fieldSelectors).toEqual(
        expect.arrayContaining([
          { field: 'eventCategory', equals: ['Data'] },
          { field: 'resources.type', equals: ['AWS::DynamoDB::Table'] },
          { field: 'resources.ARN', equals: [eventsArn()] },
        ]),
      );
    });

    it('records the data events of what hub targets reach, so S3 reads under a grant reach its timeline', () => {
      const trail = world.one(T.trail, 'audit-trail').inputs;
      const selectors = trail.advancedEventSelectors as { name: string; fieldSelectors: Record<string, unknown>[] }[];
      const targets = selectors.filter((s) => s.name.startsWith('Timebox targets'));
      expect(targets.map((s) => s.fieldSelectors)).toEqual([
        [
          { field: 'eventCategory', equals: ['Data'] },
          { field: 'resources.type', equals: ['AWS::S3::Object'] },
          { field: 'resources.ARN', startsWiths: ['arn:aws:s3:::prod-logs/'] },
        ],
        [
          { field: 'eventCategory', equals: ['Data'] },
          { field: 'resources.type', equals: ['AWS::DynamoDB::Table'] },
          { field: 'resources.ARN', startsWiths: [`arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/orders`] },
        ],
      ]);
      // The spoke target's log group is in another account: a hub trail cannot record it (README, "Deploy on AWS").
      expect(JSON.stringify(selectors)).not.toContain(SPOKE_ACCOUNT);
    });

    it('keeps both buckets private: every public access block on, TLS only', () => {
      for (const b of ['audit-bucket', 'audit-results']) {
        const pab = world.one(T.pab, `${b}-pab`).inputs;
        expect(pab).toMatchObject({
          blockPublicAcls: true,
          blockPublicPolicy: true,
          ignorePublicAcls: true,
          restrictPublicBuckets: true,
        });
        const bucket = world.one(T.bucket, b);
        expect(pab.bucket).toBe(bucket.state.bucket);
        const policyName = b === 'audit-bucket' ? 'audit-bucket-policy' : 'audit-results-policy';
        const tls = docOf(world.one(T.bucketPolicy, policyName).inputs.policy).Statement[0];
        expect(tls).toMatchObject({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': false } } });
        expect(
          (
            world.one(
              'aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration',
              `${b}-sse`,
            ).inputs.rules as { applyServerSideEncryptionByDefault: { sseAlgorithm: string } }[]
          )[0]?.applyServerSideEncryptionByDefault.sseAlgorithm,
        ).toBe('aws:kms');
      }
      expect(world.one(T.bucket, 'audit-bucket').options.retainOnDelete).toBe(true);
    });

    it('keeps the evidence on destroy: the trail bucket, its protections and the key that decrypts it', () => {
      const retained = (type: string, name: string) => world.one(type, name).options.retainOnDelete;
      expect(retained(T.bucket, 'audit-bucket')).toBe(true);
      expect(retained(T.pab, 'audit-bucket-pab')).toBe(true);
      expect(retained(T.bucketPolicy, 'audit-bucket-policy')).toBe(true);
      expect(
        retained(
          'aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration',
          'audit-bucket-sse',
        ),
      ).toBe(true);
      expect(retained(T.key, 'audit-key')).toBe(true);
      // Working files and the token key are not evidence: they go (the key after KMS's waiting period).
      expect(retained(T.bucket, 'audit-results')).toBe(false);
      expect(retained(T.key, 'broker-signing-key')).toBe(false);
      expect(world.one(T.key, 'broker-signing-key').inputs.deletionWindowInDays).toBe(30);
    });

    it('versions the trail bucket and expires logs after the retention period', () => {
      expect(
        world.one('aws:s3/bucketVersioning:BucketVersioning', 'audit-bucket-versioning').inputs.versioningConfiguration,
      ).toEqual({ status: 'Enabled' });
      const rules = world.one(
        'aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration',
        'audit-bucket-lifecycle',
      ).inputs.rules as { expiration: { days: number } }[];
      expect(rules[0]?.expiration).toEqual({ days: 365 });
    });

    it('lets CloudTrail write only under this trail, and each spoke trail only under its own account', () => {
      const policy = docOf(world.one(T.bucketPolicy, 'audit-bucket-policy').inputs.policy);
      const trailArn = `arn:aws:cloudtrail:${REGION}:${ACCOUNT}:trail/timebox-prod`;
      const ct = policy.Statement.filter((s) => JSON.stringify(s.Principal).includes('cloudtrail.amazonaws.com'));
      const hub = ct.filter(
        (s) => (s.Condition as { StringEquals: Record<string, string> }).StringEquals['aws:SourceArn'],
      );
      expect(hub.map((s) => s.Sid)).toEqual(['CloudTrailAclCheck', 'CloudTrailWrite']);
      for (const s of hub)
        expect((s.Condition as { StringEquals: Record<string, string> }).StringEquals['aws:SourceArn']).toBe(trailArn);
      const spoke = ct.filter((s) => s.Sid === `SpokeTrailWrite${SPOKE_ACCOUNT}`);
      expect(spoke.map((s) => s.Resource)).toEqual([
        expect.stringMatching(new RegExp(`/AWSLogs/${SPOKE_ACCOUNT}/\\*$`)),
      ]);
      expect(ct).toHaveLength(4);
      expect(world.one(T.trail, 'audit-trail').state.arn).toBe(trailArn);
      expect(world.one(T.trail, 'audit-trail').inputs.isOrganizationTrail).toBe(false);
    });

    it('queries through a projected Glue table and an encrypted, enforced Athena workgroup', async () => {
      const table = world.one('aws:glue/catalogTable:CatalogTable', 'audit-table').inputs;
      const bucket = world.one(T.bucket, 'audit-bucket').state.bucket;
      expect(table.parameters).toMatchObject({
        'projection.enabled': 'true',
        'projection.timestamp.format': 'yyyy/MM/dd',
        'projection.account.values': `${ACCOUNT},${SPOKE_ACCOUNT}`,
        'storage.location.template': `s3://${bucket}/AWSLogs/\${account}/CloudTrail/\${region}/\${timestamp}`,
      });
      const wg = world.one('aws:athena/workgroup:Workgroup', 'audit-workgroup').inputs;
      const c = wg.configuration as {
        enforceWorkgroupConfiguration: boolean;
        resultConfiguration: { encryptionConfiguration: { encryptionOption: string } };
      };
      expect(c.enforceWorkgroupConfiguration).toBe(true);
      expect(c.resultConfiguration.encryptionConfiguration.encryptionOption).toBe('SSE_KMS');
      const queries = world.ofType('aws:athena/namedQuery:NamedQuery').map((q) => q.inputs.name);
      expect(queries).toEqual([
        'timebox-actions-under-grant',
        'timebox-actions-by-principal',
        'timebox-actions-on-target-role',
      ]);
      expect(await promiseOf(out.glueDatabase)).toBe('timebox_prod_audit');
    });
  });

  describe('Component: GcpAccess (wired)', () => {
    it('federates the three broker roles and hands the Lambdas the GCP settings in policy.json', async () => {
      const provider = world.one('gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider', 'gcp-aws').inputs;
      for (const h of HANDLERS) expect(provider.attributeCondition).toContain(`timebox-prod-${h}`);
      expect(provider.aws).toEqual({ accountId: ACCOUNT });
      for (const h of HANDLERS) {
        const env = (fnNamed(h).inputs.environment as { variables: Record<string, string> }).variables;
        // Not in the environment: members and projects grow past Lambda's 4 KB (see envsize.test.ts).
        expect(env[ENV.gcp]).toBeUndefined();
        const code = fnNamed(h).inputs.code as { assets: Promise<Record<string, { text: unknown }>> };
        const gcp = readPolicyBundle((await (await code.assets)['policy.json']?.text) as string).gcp as {
          serviceAccount: string;
          projects: string[];
        };
        expect(gcp.serviceAccount).toBe('timebox-broker@acme-identity.iam.gserviceaccount.com');
        expect(gcp.projects).toEqual(['acme-analytics']);
      }
      expect(world.ofType('pulumi:providers:gcp').map((p) => p.inputs.project)).toEqual(['acme-identity']);
    });
  });

  it('never allows every action on every resource, in any document', () => {
    const wild = allDocuments().flatMap(({ where, doc }) =>
      doc.Statement.filter(
        (s) =>
          s.Effect === 'Allow' &&
          asList(s.Action).includes('*') &&
          (s.Resource === undefined || asList(s.Resource).includes('*')),
      ).map(() => where),
    );
    expect(allDocuments().length).toBeGreaterThan(15);
    expect(wild).toEqual([]);
  });

  it('exports every output the operator and the CLI need', async () => {
    const resolved = Object.fromEntries(
      await Promise.all(Object.entries(out).map(async ([k, v]) => [k, await promiseOf(v)] as const)),
    );
    expect(Object.keys(resolved)).toEqual(
      expect.arrayContaining([
        'apiUrl',
        'region',
        'eventsTable',
        'grantsTable',
        'jwksUrl',
        'athenaWorkgroup',
        'glueDatabase',
        'trailBucket',
        'targetRoleArns',
        'schedulerGroup',
        'kmsKeyId',
        'dlqUrl',
      ]),
    );
    expect(resolved.region).toBe(REGION);
    expect(resolved.jwksUrl).toBe(
      `https://broker-api-id.execute-api.${REGION}.amazonaws.com/live/.well-known/jwks.json`,
    );
    expect(resolved.schedulerGroup).toBe('timebox-prod');
    expect(resolved.dlqUrl).toMatch(/^https:\/\/sqs\.eu-west-1\.amazonaws\.com\//);
    expect(resolved.brokerRoleArns).toEqual(
      Object.fromEntries(HANDLERS.map((h) => [h, `arn:aws:iam::${ACCOUNT}:role/timebox-prod-${h}`])),
    );
  });

  it('asks AWS only who and where it is deploying', () => {
    expect([...new Set(world.calls)].sort()).toEqual([
      'aws:index/getCallerIdentity:getCallerIdentity',
      'aws:index/getPartition:getPartition',
      'aws:index/getRegion:getRegion',
    ]);
  });

  describe('refusals (nothing is declared)', () => {
    async function refused(run: () => Promise<unknown>): Promise<{ message: string; declared: Recorded[] }> {
      await world.settle();
      world.reset();
      let message = '';
      try {
        await run();
      } catch (e) {
        message = (e as Error).message;
      }
      await world.settle();
      return { message, declared: [...world.resources] };
    }

    it('refuses a bad access.yaml, listing every problem with its line', async () => {
      const bad = projectWithPolicy(
        'version: 1\ntargets:\n  x:\n    kind: aws-role\n    account: "12"\n    role: r\nrules:\n  - name: r\n    who: [group:nobody]\n    targets: [missing]\n    approval: auto\n',
      );
      const r = await refused(() => timebox({ config: config(), projectDir: bad, distDir: dist }));
      expect(r.message).toMatch(/^access\.yaml has \d+ problems:/);
      expect(r.message).toMatch(/access\.yaml: targets\.x\.\S+ \(line \d+\)/);
      expect(r.message).toMatch(/rules\[0\]\.targets\[0\].*\(line 10\)/);
      expect(r.message.split('\n').length).toBeGreaterThan(3);
      expect(r.declared).toEqual([]);
    });

    it('refuses a missing policy file, naming the key', async () => {
      const r = await refused(() =>
        timebox({ config: configDummy({ policyFile: 'nope.yaml' }), projectDir: project, distDir: dist }),
      );
      expect(r.message).toMatch(/^timebox:policyFile: cannot read nope\.yaml/);
      expect(r.declared).toEqual([]);
    });

    it('refuses to deploy without the Lambda bundles: run npm run build first', async () => {
      const r = await refused(() => timebox({ config: config(), projectDir: project, distDir: fakeBundles(['api']) }));
      expect(r.message).toMatch(/revoke\/index\.mjs.*run npm run build first$/);
      expect(r.declared).toEqual([]);
    });

    it('refuses a target in an account that is neither the hub nor a configured spoke', async () => {
      const r = await refused(() => timebox({ config: configDummy(), projectDir: project, distDir: dist }));
      expect(r.message).toContain(
        `targets.spoke-logs.account: ${SPOKE_ACCOUNT} is neither this account (${ACCOUNT}) nor listed in timebox:spokeAccounts`,
      );
      expect(r.declared).toEqual([]);
    });
  });
});
