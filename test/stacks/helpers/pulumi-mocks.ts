import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import type { StackConfig } from '../../../stacks/config';
import { parseStackConfig } from '../../../stacks/config';

/**
 * Pulumi mocks for the stack tests: every registered resource is recorded (type, name, inputs); computed values
 * (ids, ARNs, names, URLs) are made up the way AWS and GCP form them; any provider function call that is not
 * listed here throws, so the program cannot quietly depend on a lookup the tests do not know about.
 */

export const ACCOUNT = '111122223333';
export const SPOKE_ACCOUNT = '444455556666';
export const REGION = 'eu-west-1';
export const PARTITION = 'aws';
const GCP_PROJECT_NUMBER = '123456789012';

export interface Recorded {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  state: Record<string, unknown>;
  provider: string | undefined;
  /** Resource options as the engine receives them (captured from the registration request). */
  options: RecordedOptions;
}

export interface RecordedOptions {
  retainOnDelete: boolean;
  protect: boolean;
  dependencies: string[];
  parent: string;
  /** The resource's URN as the engine forms it (the parent's whole type chain, `$`-joined, before its own type). */
  urn: string;
  /** URNs of its aliases, formed the same way: the URNs the engine accepts as this resource's earlier identity. */
  aliases: string[];
}

export interface MockWorld {
  resources: Recorded[];
  calls: string[];
  ofType(type: string): Recorded[];
  one(type: string, name: string): Recorded;
  /** Waits until every registration the program started has reached the mocks. */
  settle(): Promise<void>;
  /** Forgets what was recorded (between two programs in one file). */
  reset(): void;
  /** The random part Pulumi adds to auto-named resources (`<logical>-<suffix>`): two stacks get different ones. */
  autoNameSuffix: string;
  /** Trust policies of existing roles by name, for aws.iam.getRole (absent: NoSuchEntity). */
  trustPolicies: Record<string, unknown>;
}

interface AliasSpec {
  getName(): string;
  getType(): string;
  getParenturn(): string;
  getNoparent(): boolean;
}

interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getProtect(): boolean | undefined;
  getRetainondelete(): boolean | undefined;
  getDependenciesList(): string[];
  getAliasesList(): { getUrn(): string; getSpec(): AliasSpec | undefined }[];
}

/**
 * A URN as the Pulumi engine forms it: `urn:pulumi:<stack>::<project>::<parent's type chain>$<type>::<name>`. (The
 * mock monitor's own URNs keep only the parent's last type, which is wrong below the second level.)
 */
export function urnOf(parentUrn: string, type: string, name: string): string {
  const parentChain = parentUrn.split('::')[2];
  const chain = parentChain && parentChain !== 'pulumi:pulumi:Stack' ? `${parentChain}$${type}` : type;
  return `urn:pulumi:${pulumi.getStack()}::${pulumi.getProject()}::${chain}::${name}`;
}

/** The URNs a registration's aliases stand for (an alias without a name, type or parent takes the resource's own). */
function aliasUrns(req: RegisterRequest): string[] {
  return req.getAliasesList().map((a) => {
    const spec = a.getSpec();
    if (!spec) return a.getUrn();
    const parent = spec.getNoparent() ? '' : spec.getParenturn() || req.getParent();
    return urnOf(parent, spec.getType() || req.getType(), spec.getName() || req.getName());
  });
}

/** Resolves an Output in tests (mocks resolve everything; nothing stays unknown). */
export function promiseOf<T>(o: pulumi.Output<T> | T): Promise<T> {
  return new Promise((resolve) => pulumi.output(o).apply((v) => resolve(v as T)));
}

/** Resolves every value of an outputs object (stack outputs). */
export async function resolveAll(outputs: object): Promise<Record<string, unknown>> {
  const entries = await Promise.all(
    Object.entries(outputs).map(async ([k, v]) => [k, await promiseOf(v as unknown)] as const),
  );
  return Object.fromEntries(entries);
}

function physicalName(type: string, logical: string, inputs: Record<string, unknown>, suffix: string): string {
  if (typeof inputs.name === 'string') return inputs.name;
  if (type === 'aws:s3/bucket:Bucket' && typeof inputs.bucket === 'string') return inputs.bucket;
  // Pulumi auto-names: logical name plus a random suffix.
  return `${logical}-${suffix}`;
}

function state(
  type: string,
  logical: string,
  inputs: Record<string, unknown>,
  account: string,
  suffix = 'abc1234',
): Record<string, unknown> {
  const name = physicalName(type, logical, inputs, suffix);
  const r = `${REGION}:${account}`;
  switch (type) {
    case 'aws:dynamodb/table:Table':
      return { name, arn: `arn:aws:dynamodb:${r}:table/${name}` };
    case 'aws:iam/role:Role':
      return { name, arn: `arn:aws:iam::${account}:role${inputs.path ?? '/'}${name}`, uniqueId: `AROA${name}` };
    case 'aws:iam/policy:Policy':
      return { name, arn: `arn:aws:iam::${account}:policy${inputs.path ?? '/'}${name}` };
    case 'aws:kms/key:Key':
      return { keyId: `key-${logical}-${suffix}`, arn: `arn:aws:kms:${r}:key/key-${logical}-${suffix}` };
    case 'aws:sqs/queue:Queue':
      return { name, arn: `arn:aws:sqs:${r}:${name}`, url: `https://sqs.${REGION}.amazonaws.com/${account}/${name}` };
    case 'aws:lambda/function:Function': {
      const arn = `arn:aws:lambda:${r}:function:${name}`;
      return {
        name,
        arn,
        invokeArn: `arn:aws:apigateway:${REGION}:lambda:path/2015-03-31/functions/${arn}/invocations`,
      };
    }
    case 'aws:apigateway/restApi:RestApi':
      return { rootResourceId: 'root123', executionArn: `arn:aws:execute-api:${r}:api123` };
    case 'aws:s3/bucket:Bucket':
      return { bucket: name, arn: `arn:aws:s3:::${name}` };
    case 'aws:cloudtrail/trail:Trail':
      return { arn: `arn:aws:cloudtrail:${r}:trail/${name}` };
    case 'aws:cloudwatch/logGroup:LogGroup':
      return { name, arn: `arn:aws:logs:${r}:log-group:${name}` };
    case 'aws:cloudwatch/eventBus:EventBus':
      return { name, arn: `arn:aws:events:${r}:event-bus/${name}` };
    case 'aws:cloudwatch/eventArchive:EventArchive':
      return { name, arn: `arn:aws:events:${r}:archive/${name}` };
    case 'aws:cloudwatch/eventRule:EventRule':
      return { name, arn: `arn:aws:events:${r}:rule/${name}` };
    case 'aws:scheduler/scheduleGroup:ScheduleGroup':
      return { name, arn: `arn:aws:scheduler:${r}:schedule-group/${name}` };
    case 'aws:secretsmanager/secret:Secret':
      return { name, arn: `arn:aws:secretsmanager:${r}:secret:${name}-AbCdEf` };
    case 'aws:cloudwatch/eventApiDestination:EventApiDestination':
      return { name, arn: `arn:aws:events:${r}:api-destination/${name}/0b1c2d3e` };
    case 'aws:cloudwatch/eventConnection:EventConnection':
      return { name, arn: `arn:aws:events:${r}:connection/${name}/0b1c2d3e` };
    case 'aws:sns/topic:Topic':
      return { name, arn: `arn:aws:sns:${r}:${name}` };
    case 'aws:glue/catalogDatabase:CatalogDatabase':
      return { name, arn: `arn:aws:glue:${r}:database/${name}` };
    case 'aws:athena/workgroup:Workgroup':
      return { name, arn: `arn:aws:athena:${r}:workgroup/${name}` };
    case 'gcp:iam/workloadIdentityPool:WorkloadIdentityPool':
      return {
        name: `projects/${GCP_PROJECT_NUMBER}/locations/global/workloadIdentityPools/${inputs.workloadIdentityPoolId}`,
      };
    case 'gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider':
      return {
        name: `projects/${GCP_PROJECT_NUMBER}/locations/global/workloadIdentityPools/${inputs.workloadIdentityPoolId}/providers/${inputs.workloadIdentityPoolProviderId}`,
      };
    case 'gcp:serviceaccount/account:Account': {
      const email = `${inputs.accountId}@${inputs.project}.iam.gserviceaccount.com`;
      return { email, name: `projects/${inputs.project}/serviceAccounts/${email}` };
    }
    case 'gcp:projects/iAMCustomRole:IAMCustomRole':
      return { name: `projects/${inputs.project}/roles/${inputs.roleId}` };
    default:
      return typeof inputs.name === 'string' ? {} : { name };
  }
}

/**
 * Installs the mocks for one test file (call before importing the program). `account` is what
 * aws.getCallerIdentity answers: the hub account, or a spoke account for the spoke program.
 */
export async function installMocks(
  opts: { account?: string; stack?: string; project?: string } = {},
): Promise<MockWorld> {
  const account = opts.account ?? ACCOUNT;
  const resources: Recorded[] = [];
  const calls: string[] = [];
  const options = new Map<string, RecordedOptions>();
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const inputs = args.inputs as Record<string, unknown>;
        const computed = state(args.type, args.name, inputs, account, world.autoNameSuffix);
        const s = { ...inputs, ...computed };
        const o = options.get(`${args.type}::${args.name}`) ?? {
          retainOnDelete: false,
          protect: false,
          dependencies: [],
          parent: '',
          urn: '',
          aliases: [],
        };
        resources.push({ type: args.type, name: args.name, inputs, state: s, provider: args.provider, options: o });
        // S3 bucket ids are the bucket names; everything else gets a made-up id.
        const id = args.type === 'aws:s3/bucket:Bucket' ? String(computed.bucket) : `${args.name}-id`;
        return { id, state: s };
      },
      call(args) {
        calls.push(args.token);
        switch (args.token) {
          case 'aws:index/getCallerIdentity:getCallerIdentity':
            return { accountId: account, arn: `arn:aws:iam::${account}:user/deployer`, userId: 'AIDADEPLOYER' };
          case 'aws:index/getPartition:getPartition':
            return { partition: PARTITION, dnsSuffix: 'amazonaws.com', reverseDnsPrefix: 'com.amazonaws' };
          case 'aws:index/getRegion:getRegion':
            return { region: REGION, name: REGION, endpoint: `ec2.${REGION}.amazonaws.com` };
          case 'aws:iam/getRole:getRole': {
            const name = String((args.inputs as { name?: unknown }).name);
            const trust = world.trustPolicies[name];
            if (trust === undefined) throw new Error(`NoSuchEntity: role ${name}`);
            return { name, arn: `arn:aws:iam::${account}:role/${name}`, assumeRolePolicy: JSON.stringify(trust) };
          }
          default:
            throw new Error(`unexpected provider call ${args.token}`);
        }
      },
    },
    opts.project ?? 'timebox',
    opts.stack ?? 'prod',
    false,
  );
  // The mocks hand newResource only type, name and inputs; the request also carries the options under test.
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource(req: RegisterRequest, callback: unknown): Promise<void>;
  };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    options.set(`${req.getType()}::${req.getName()}`, {
      retainOnDelete: req.getRetainondelete() === true,
      protect: req.getProtect() === true,
      dependencies: req.getDependenciesList(),
      parent: req.getParent(),
      urn: urnOf(req.getParent(), req.getType(), req.getName()),
      aliases: aliasUrns(req),
    });
    return register(req, callback);
  };
  const settings = require('@pulumi/pulumi/runtime/settings') as { waitForRPCs(): Promise<void> };
  const world: MockWorld = {
    autoNameSuffix: 'abc1234',
    trustPolicies: {},
    resources,
    calls,
    settle: () => settings.waitForRPCs(),
    reset: () => {
      resources.length = 0;
      calls.length = 0;
    },
    ofType: (type) => resources.filter((r) => r.type === type),
    one: (type, name) => {
      const found = resources.filter((r) => r.type === type && r.name === name);
      if (found.length !== 1) throw new Error(`expected one ${type} named ${name}, found ${found.length}`);
      return found[0] as Recorded;
    },
  };
  return world;
}

/** Files `npm run build` writes for every function: the entry, a lazily loaded chunk, their maps (scripts/build.ts). */
export const FAKE_BUNDLE_FILES = ['index.mjs', 'index.mjs.map', 'provider-ABC123.mjs', 'provider-ABC123.mjs.map'];

/** A directory with fake Lambda bundles for the given handlers (what `npm run build` would write, meta.json included). */
export function fakeBundles(handlers: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'timebox-dist-'));
  for (const h of handlers) {
    mkdirSync(join(dir, h), { recursive: true });
    writeFileSync(join(dir, h, 'index.mjs'), `export const handler = async () => ${JSON.stringify(h)};\n`);
    writeFileSync(join(dir, h, 'provider-ABC123.mjs'), 'export const createGcpProvider = () => ({});\n');
    for (const f of ['index.mjs.map', 'provider-ABC123.mjs.map'])
      writeFileSync(join(dir, h, f), '{"version":3,"sources":[],"mappings":""}\n');
    const outputs = Object.fromEntries(FAKE_BUNDLE_FILES.map((f) => [`dist/lambdas/${h}/${f}`, {}]));
    writeFileSync(join(dir, h, 'meta.json'), JSON.stringify({ inputs: {}, outputs }));
  }
  return dir;
}

/** A project directory holding access.yaml with the given text. */
export function projectWithPolicy(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'timebox-project-'));
  writeFileSync(join(dir, 'access.yaml'), text);
  return dir;
}

/** Raw `timebox:*` config for a working stack, overridable per key. */
export function rawConfigDummy(partial: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    policyFile: 'access.yaml',
    identity: JSON.stringify({ accounts: [ACCOUNT], roles: [{ pattern: 'AWSReservedSSO_*', mfa: true }] }),
    allowedAccounts: JSON.stringify([ACCOUNT]),
    ...partial,
  };
}

/** A parsed working configuration, overridable per key (raw strings, as Pulumi stores them). */
export function configDummy(partial: Record<string, string | undefined> = {}): StackConfig {
  return parseStackConfig(rawConfigDummy(partial));
}

/** access.yaml with a hub target, a second hub target, a spoke target, a gRPC and a GCP target. */
export const POLICY_YAML = `
version: 1
groups:
  sre: [alice@corp.com, bob@corp.com]
  secops: [carol@corp.com, dan@corp.com]
targets:
  prod-logs:
    kind: aws-role
    account: "${ACCOUNT}"
    role: timebox-prod-logs
    actions: [s3:GetObject, s3:ListBucket]
    resources: ["arn:aws:s3:::prod-logs", "arn:aws:s3:::prod-logs/*"]
    maxDuration: 2h
  prod-db-read:
    kind: aws-role
    account: "${ACCOUNT}"
    role: timebox-prod-db-read
    actions: [dynamodb:GetItem, dynamodb:Query]
    resources: ["arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/orders"]
  spoke-logs:
    kind: aws-role
    account: "${SPOKE_ACCOUNT}"
    role: timebox-spoke-logs
    actions: [logs:GetLogEvents]
    resources: ["arn:aws:logs:${REGION}:${SPOKE_ACCOUNT}:log-group:app:*"]
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
    targets: [prod-logs, prod-db-read, spoke-logs]
    maxDuration: 1h
    approval: auto
  - name: admin-break-glass
    who: [group:sre]
    targets: [user-service]
    scopes: [/acme.admin.*]
    maxDuration: 30m
    approval: { from: group:secops, count: 2 }
    require: { mfa: true }
  - name: analysts
    who: [group:sre]
    targets: [analytics]
    maxDuration: 4h
    approval: { from: group:secops, count: 1 }
`;

/** The IAM document a resource input carries (inputs hold policies as JSON strings). */
export function docOf(value: unknown): { Version: string; Statement: Array<Record<string, unknown>> } {
  if (typeof value !== 'string') throw new Error(`expected a JSON policy string, got ${typeof value}`);
  return JSON.parse(value);
}
