/**
 * AWS revoke call benchmark (`aws_revoke_call_ms`): how long `POST /v1/requests/{id}/revoke` takes for an aws-role
 * grant that had credentials, through the deployed API's handler (api/app.ts), GrantService and the real
 * aws-role provider and revocation adapter (adapters/aws/sts.ts, revocation.ts). Every AWS call is answered at once
 * by a stand-in: STS and IAM through aws-sdk-client-mock (IAM keeps the inline policies it is given, so the
 * adapter's read-after-write sees its own write), the grant store in memory. The figure is therefore the time the
 * broker itself adds to a revoke, with no network in it: on AWS add the IAM and DynamoDB round trips.
 * Each sample revokes one grant on a role whose deny policy starts empty, so every sample does the same work.
 */
import {
  GetRolePolicyCommand,
  IAMClient,
  ListRolePoliciesCommand,
  NoSuchEntityException,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsRoleProvider } from '../../adapters/aws/sts';
import { type ApiRequest, createApi } from '../../api/app';
import { systemClock } from '../../core/clock';
import { GrantService } from '../../core/grant/service';
import { grantIdGenerator } from '../../core/ids';
import type { AwsRoleTarget } from '../../core/policy/types';
import type { Log, TokenSigner } from '../../core/ports';
import { type Principal, principal } from '../../core/principal';
import { FakeScheduler, MemoryEventStore, MemoryProjectionStore, RecordingPublisher } from '../../test/helpers/memory';
import { compileYaml, WORLD_POLICY } from '../../test/helpers/world';
import type { SectionContext, SectionResult } from '../lib/harness';
import { elapsedMs, hrtimeNs, summarize } from '../lib/stats';

const log = (line = '') => process.stderr.write(`${line}\n`);

/** Only errors are shown (on stderr): a failing sample must say why. */
const benchLog: Log = {
  info: () => {},
  warn: () => {},
  error: (message, fields) => log(`[aws-revoke] ${message} ${JSON.stringify(fields ?? {})}`),
};

const NO_SIGNER: TokenSigner = {
  sign: async () => 'unused',
  jwks: async () => ({ keys: [] }),
};

/** IAM inline policies held in memory, answered the way IAM answers (GetRolePolicy URL-encodes the document). */
function standInAws() {
  const creds = { region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } };
  const sts = new STSClient(creds);
  const iam = new IAMClient(creds);
  const docs = new Map<string, string>();
  let iamCalls = 0;
  const iamMock = mockClient(iam);
  iamMock.on(GetRolePolicyCommand).callsFake((input: { RoleName?: string; PolicyName?: string }) => {
    iamCalls++;
    const doc = docs.get(`${input.RoleName}/${input.PolicyName}`);
    if (doc === undefined) throw new NoSuchEntityException({ message: 'no such policy', $metadata: {} });
    return { RoleName: input.RoleName, PolicyName: input.PolicyName, PolicyDocument: encodeURIComponent(doc) };
  });
  iamMock
    .on(PutRolePolicyCommand)
    .callsFake((input: { RoleName?: string; PolicyName?: string; PolicyDocument?: string }) => {
      iamCalls++;
      docs.set(`${input.RoleName}/${input.PolicyName}`, input.PolicyDocument ?? '');
      return {};
    });
  iamMock.on(ListRolePoliciesCommand).callsFake((input: { RoleName?: string }) => {
    iamCalls++;
    return {
      PolicyNames: [...docs.keys()].filter((k) => k.startsWith(`${input.RoleName}/`)).map((k) => k.split('/')[1]),
      IsTruncated: false,
    };
  });
  let n = 0;
  mockClient(sts)
    .on(AssumeRoleCommand)
    .callsFake(() => ({
      Credentials: {
        AccessKeyId: `ASIABENCH${++n}`,
        SecretAccessKey: 'bench-secret',
        SessionToken: 'bench-session',
        Expiration: new Date(Date.now() + 3600_000),
      },
      AssumedRoleUser: { Arn: 'arn:aws:sts::111122223333:assumed-role/timebox-prod-logs/x', AssumedRoleId: 'AROA:x' },
    }));
  return { sts, iam, docs, iamCalls: () => iamCalls };
}

/** Revokes N aws-role grants (quick: 20; else 200) through the API and times each revoke call. */
export default async function awsRevokeSection(ctx: SectionContext): Promise<SectionResult> {
  const compiled = compileYaml(WORLD_POLICY);
  const aws = standInAws();
  const provider = new AwsRoleProvider({
    sts: aws.sts,
    iamFor: async () => aws.iam,
    targets: () => Object.values(compiled.policy.targets).filter((t): t is AwsRoleTarget => t.kind === 'aws-role'),
    log: benchLog,
  });
  const events = new MemoryEventStore();
  const projections = new MemoryProjectionStore();
  const service = new GrantService({
    events,
    projections,
    scheduler: new FakeScheduler(),
    providers: { 'aws-role': provider },
    publisher: new RecordingPublisher(),
    clock: systemClock,
    ids: grantIdGenerator(systemClock),
    policy: () => compiled,
    log: benchLog,
  });
  const api = createApi({
    service,
    authenticate: async (req) => req.auth as Principal,
    signer: NO_SIGNER,
    issuer: 'https://timebox.example',
    projections,
    events,
    clock: systemClock,
    log: benchLog,
    policy: () => compiled,
  });
  const alice = principal({ id: 'alice@corp.com', sourceIp: '10.1.2.3' });
  let requestId = 0;
  const call = async (method: string, path: string, body: unknown) => {
    const req: ApiRequest = {
      method,
      path,
      query: {},
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      sourceIp: alice.sourceIp,
      userAgent: 'timebox-bench',
      requestId: `bench-${++requestId}`,
      auth: alice,
    };
    const res = await api(req);
    if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${res.body}`);
    return JSON.parse(res.body) as { grant: { id: string; status: string } };
  };

  const warmup = ctx.quick ? 3 : 10;
  const n = ctx.quick ? 20 : 200;
  const samples: number[] = [];
  let iamPerRevoke = 0;
  for (let i = 0; i < warmup + n; i++) {
    const { grant } = await call('POST', '/v1/requests', { target: 'prod-logs', duration: '30m', reason: 'bench' });
    await call('POST', `/v1/grants/${grant.id}/credentials`, {});
    // A role with no other revocation on it: every sample does the same work.
    aws.docs.clear();
    const iamBefore = aws.iamCalls();
    const start = hrtimeNs();
    const revoked = await call('POST', `/v1/requests/${grant.id}/revoke`, { reason: 'bench' });
    const ms = elapsedMs(start);
    if (revoked.grant.status !== 'revoked') throw new Error(`${grant.id} is ${revoked.grant.status} after revoke`);
    if (!aws.docs.has('timebox-prod-logs/timebox-revoked')) throw new Error(`no deny was written for ${grant.id}`);
    iamPerRevoke = aws.iamCalls() - iamBefore;
    if (i >= warmup) samples.push(ms);
  }
  const s = summarize(samples);
  log(
    `[aws-revoke] ${n} revokes: p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, max ${s.max.toFixed(2)} ms; ${iamPerRevoke} IAM calls each`,
  );
  return {
    aws_revoke_call_ms: Number(s.p50.toFixed(2)),
    aws_revoke_call_p99_ms: Number(s.p99.toFixed(2)),
    aws_revoke_iam_calls: iamPerRevoke,
    aws_revoke_grants: n,
  };
}
