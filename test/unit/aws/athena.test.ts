import {
  AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  type Row,
  StartQueryExecutionCommand,
  TooManyRequestsException,
} from '@aws-sdk/client-athena';
import { describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import {
  attribute,
  CloudTrailActions,
  cloudTrailWindow,
  type ResultRow,
  sqlString,
  timelineQuery,
} from '../../../adapters/aws/athena';
import {
  CLOUDTRAIL_LAG_NOTE,
  type CloudActionSource,
  DATA_EVENTS_NOTE,
  grantTimeline,
  mergeTimeline,
  NOT_CONFIGURED_NOTE,
} from '../../../adapters/notify/timeline';
import type { GrantEvent } from '../../../core/grant/events';
import type { Grant } from '../../../core/grant/state';
import { alice, requestDummy, world } from '../../helpers/world';

const ACCOUNT = '111122223333';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/timebox/timebox-prod-logs`;
const SETTINGS = { workgroup: 'timebox-prod', database: 'timebox_prod_audit', regions: ['us-east-1', 'eu-west-1'] };

/** An active prod-logs grant for alice (10:00-10:30 UTC), with one credential issued at 10:00. */
async function activeGrant(): Promise<{ grant: Grant; events: GrantEvent[] }> {
  const w = world();
  const { grant } = await w.service.request(alice, requestDummy({ duration: 30 * 60_000 }));
  w.clock.advance(2_000);
  await w.service.issueCredentials(grant.id, alice, 'credentials');
  w.clock.advance(40 * 60_000);
  await w.service.expire(grant.id);
  const events = await w.events.read(grant.id);
  return { grant: await w.service.load(grant.id), events };
}

// ---- CloudTrail records, as CloudTrail writes them to S3 (CloudTrail User Guide, "CloudTrail record contents") --

function sessionIdentity(role: string, session: string, sourceIdentity?: string) {
  const roleName = role.split('/').pop();
  return {
    type: 'AssumedRole',
    principalId: `AROAEXAMPLE${roleName?.length}:${session}`,
    arn: `arn:aws:sts::${ACCOUNT}:assumed-role/${roleName}/${session}`,
    accountId: ACCOUNT,
    accessKeyId: 'ASIAEXAMPLEKEY',
    sessionContext: {
      sessionIssuer: { type: 'Role', principalId: 'AROAEXAMPLE', arn: role, accountId: ACCOUNT, userName: roleName },
      attributes: { creationDate: '2026-11-24T10:00:02Z', mfaAuthenticated: 'false' },
      ...(sourceIdentity ? { sourceIdentity } : {}),
    },
  };
}

function records(grantId: string) {
  const own = sessionIdentity(ROLE, grantId, 'alice@corp.com');
  const chainedRole = `arn:aws:iam::${ACCOUNT}:role/ops-readonly`;
  return [
    {
      eventVersion: '1.09',
      userIdentity: own,
      eventTime: '2026-11-24T10:00:05Z',
      eventSource: 'sts.amazonaws.com',
      eventName: 'GetCallerIdentity',
      awsRegion: 'us-east-1',
      sourceIPAddress: '10.1.2.3',
      userAgent: 'aws-cli/2.15.0',
      requestParameters: null,
      responseElements: null,
      requestID: 'req-1',
      eventID: 'e0000001-0000-4000-8000-000000000001',
      readOnly: true,
      eventType: 'AwsApiCall',
      managementEvent: true,
      recipientAccountId: ACCOUNT,
      eventCategory: 'Management',
    },
    {
      // A failed call: the session policy allows only s3:GetObject and s3:ListBucket.
      eventVersion: '1.09',
      userIdentity: own,
      eventTime: '2026-11-24T10:03:10Z',
      eventSource: 's3.amazonaws.com',
      eventName: 'GetBucketPolicy',
      awsRegion: 'eu-west-1',
      sourceIPAddress: '10.1.2.3',
      userAgent: '[aws-cli/2.15.0]',
      errorCode: 'AccessDenied',
      errorMessage: `User: ${own.arn} is not authorized to perform: s3:GetBucketPolicy on resource: "arn:aws:s3:::prod-logs" because no session policy allows the s3:GetBucketPolicy action`,
      requestParameters: { bucketName: 'prod-logs', Host: 'prod-logs.s3.eu-west-1.amazonaws.com', policy: '' },
      responseElements: null,
      eventID: 'e0000002-0000-4000-8000-000000000002',
      readOnly: true,
      resources: [{ accountId: ACCOUNT, type: 'AWS::S3::Bucket', ARN: 'arn:aws:s3:::prod-logs' }],
      eventType: 'AwsApiCall',
      recipientAccountId: ACCOUNT,
      eventCategory: 'Management',
    },
    {
      // Role chaining: the grant's session assumes another role; the source identity carries over.
      eventVersion: '1.08',
      userIdentity: own,
      eventTime: '2026-11-24T10:05:00Z',
      eventSource: 'sts.amazonaws.com',
      eventName: 'AssumeRole',
      awsRegion: 'us-east-1',
      sourceIPAddress: '10.1.2.3',
      userAgent: 'aws-cli/2.15.0',
      requestParameters: { roleArn: chainedRole, roleSessionName: 'alice-chain', durationSeconds: 900 },
      responseElements: {
        credentials: { accessKeyId: 'ASIACHAINED', sessionToken: 'redacted', expiration: 'Nov 24, 2026, 10:20:00 AM' },
        assumedRoleUser: {
          assumedRoleId: 'AROACHAINED:alice-chain',
          arn: `arn:aws:sts::${ACCOUNT}:assumed-role/ops-readonly/alice-chain`,
        },
        sourceIdentity: 'alice@corp.com',
      },
      eventID: 'e0000003-0000-4000-8000-000000000003',
      readOnly: true,
      resources: [{ accountId: ACCOUNT, type: 'AWS::IAM::Role', ARN: chainedRole }],
      eventType: 'AwsApiCall',
      recipientAccountId: ACCOUNT,
      eventCategory: 'Management',
    },
    {
      eventVersion: '1.09',
      userIdentity: sessionIdentity(chainedRole, 'alice-chain', 'alice@corp.com'),
      eventTime: '2026-11-24T10:06:30Z',
      eventSource: 'ec2.amazonaws.com',
      eventName: 'DescribeInstances',
      awsRegion: 'eu-west-1',
      sourceIPAddress: '10.1.2.3',
      userAgent: 'aws-cli/2.15.0',
      requestParameters: { instancesSet: {}, filterSet: {} },
      responseElements: null,
      eventID: 'e0000004-0000-4000-8000-000000000004',
      readOnly: true,
      eventType: 'AwsApiCall',
      recipientAccountId: ACCOUNT,
      eventCategory: 'Management',
    },
    {
      // Console sign-in through the federation endpoint: matched by session name; no source identity here.
      eventVersion: '1.09',
      userIdentity: sessionIdentity(ROLE, grantId),
      eventTime: '2026-11-24T10:01:00Z',
      eventSource: 'signin.amazonaws.com',
      eventName: 'ConsoleLogin',
      awsRegion: 'us-east-1',
      sourceIPAddress: '198.51.100.7',
      userAgent: 'Mozilla/5.0',
      requestParameters: null,
      responseElements: { ConsoleLogin: 'Success' },
      additionalEventData: { MobileVersion: 'No', MFAUsed: 'No' },
      eventID: 'e0000005-0000-4000-8000-000000000005',
      readOnly: false,
      eventType: 'AwsConsoleSignIn',
      recipientAccountId: ACCOUNT,
      eventCategory: 'Management',
    },
    {
      // Alice's other grant running at the same time: belongs to that grant's timeline.
      eventVersion: '1.09',
      userIdentity: sessionIdentity(ROLE, 'tb-01jd4x7z8y9k2m3n4p5q6r7s8t', 'alice@corp.com'),
      eventTime: '2026-11-24T10:02:00Z',
      eventSource: 'sts.amazonaws.com',
      eventName: 'GetCallerIdentity',
      awsRegion: 'us-east-1',
      sourceIPAddress: '10.1.2.3',
      eventID: 'e0000006-0000-4000-8000-000000000006',
      readOnly: true,
      eventType: 'AwsApiCall',
      recipientAccountId: ACCOUNT,
      eventCategory: 'Management',
    },
    {
      // Alice's SSO session, whose identity provider also sets her as source identity: shown, but not linked.
      eventVersion: '1.09',
      userIdentity: sessionIdentity(
        `arn:aws:iam::${ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Dev_abc`,
        'alice@corp.com',
        'alice@corp.com',
      ),
      eventTime: '2026-11-24T10:04:00Z',
      eventSource: 'cloudwatch.amazonaws.com',
      eventName: 'DescribeAlarms',
      awsRegion: 'eu-west-1',
      sourceIPAddress: '10.1.2.3',
      eventID: 'e0000007-0000-4000-8000-000000000007',
      readOnly: true,
      eventType: 'AwsApiCall',
      recipientAccountId: ACCOUNT,
      eventCategory: 'Management',
    },
    {
      // Someone else entirely, no source identity: never part of the grant.
      eventVersion: '1.09',
      userIdentity: {
        type: 'IAMUser',
        principalId: 'AIDAEXAMPLE',
        arn: `arn:aws:iam::${ACCOUNT}:user/ci`,
        accountId: ACCOUNT,
        userName: 'ci',
      },
      eventTime: '2026-11-24T10:04:30Z',
      eventSource: 'sts.amazonaws.com',
      eventName: 'GetCallerIdentity',
      awsRegion: 'us-east-1',
      sourceIPAddress: '203.0.113.9',
      eventID: 'e0000008-0000-4000-8000-000000000008',
      readOnly: true,
      eventType: 'AwsApiCall',
      recipientAccountId: ACCOUNT,
      eventCategory: 'Management',
    },
  ];
}
type TrailRecord = ReturnType<typeof records>[number];

const COLUMNS = [
  'eventid',
  'eventtime',
  'eventsource',
  'eventname',
  'awsregion',
  'recipientaccountid',
  'sourceipaddress',
  'useragent',
  'errorcode',
  'errormessage',
  'readonly',
  'identity_type',
  'identity_arn',
  'principal_id',
  'source_identity',
  'issuer_arn',
  'resource_arns',
  'assumed_arn',
];

/** What the timeline SELECT returns for a record: strings, SQL NULL as an absent value. */
function asRow(r: TrailRecord): ResultRow {
  const id = r.userIdentity as {
    type: string;
    arn: string;
    principalId: string;
    sessionContext?: { sourceIdentity?: string; sessionIssuer?: { arn: string } };
  };
  const res = (r as { resources?: { ARN: string }[] }).resources;
  const assumed = (r.responseElements as { assumedRoleUser?: { arn: string } } | null)?.assumedRoleUser?.arn;
  return {
    eventid: r.eventID,
    eventtime: r.eventTime,
    eventsource: r.eventSource,
    eventname: r.eventName,
    awsregion: r.awsRegion,
    recipientaccountid: r.recipientAccountId,
    sourceipaddress: r.sourceIPAddress,
    useragent: (r as { userAgent?: string }).userAgent,
    errorcode: (r as { errorCode?: string }).errorCode,
    errormessage: (r as { errorMessage?: string }).errorMessage,
    readonly: String(r.readOnly),
    identity_type: id.type,
    identity_arn: id.arn,
    principal_id: id.principalId,
    source_identity: id.sessionContext?.sourceIdentity,
    issuer_arn: id.sessionContext?.sessionIssuer?.arn,
    resource_arns: res ? res.map((x) => x.ARN).join(' ') : undefined,
    assumed_arn: r.eventName === 'AssumeRole' ? assumed : undefined,
  };
}

/** A GetQueryResults page: the header row first on the first page, as Athena returns SELECT results. */
function page(rows: ResultRow[], opts: { header: boolean; next?: string }) {
  const toRow = (values: (string | undefined)[]): Row => ({
    Data: values.map((v) => (v === undefined ? {} : { VarCharValue: v })),
  });
  return {
    ResultSet: {
      Rows: [...(opts.header ? [toRow(COLUMNS)] : []), ...rows.map((r) => toRow(COLUMNS.map((c) => r[c])))],
      ResultSetMetadata: { ColumnInfo: COLUMNS.map((c) => ({ Name: c, Type: 'varchar' })) },
    },
    ...(opts.next ? { NextToken: opts.next } : {}),
  };
}

function setup(opts: { deadlineMs?: number; maxRows?: number } = {}) {
  const client = new AthenaClient({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
  const mock = mockClient(client);
  let now = Date.parse('2026-11-24T12:00:00Z');
  const sleeps: number[] = [];
  const source = new CloudTrailActions(client, SETTINGS, {
    ...opts,
    now: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
  });
  return {
    mock,
    source,
    sleeps,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('Function: cloudTrailWindow', () => {
  it('spans activation - 1 min to the latest end (here the expiry, recorded 10 minutes late) + 15 min', async () => {
    const { grant } = await activeGrant();
    expect(Date.parse(grant.endedAt as string)).toBeGreaterThan(Date.parse(grant.expiresAt as string));
    expect(cloudTrailWindow(grant)).toEqual({
      from: new Date(Date.parse(grant.activatedAt as string) - 60_000),
      until: new Date(Date.parse(grant.endedAt as string) + 15 * 60_000),
    });
  });

  it('is undefined for a grant that never became active', async () => {
    const w = world();
    const { grant } = await w.service.request(
      alice,
      requestDummy({ target: 'user-service', scopes: ['/acme.admin.*'], duration: 20 * 60_000 }),
    );
    expect(cloudTrailWindow(grant)).toBeUndefined();
  });
});

describe('Function: sqlString', () => {
  it('quotes a literal and doubles quotes, and refuses control characters', () => {
    expect(sqlString('alice@corp.com')).toBe("'alice@corp.com'");
    expect(sqlString("o'brien@corp.com")).toBe("'o''brien@corp.com'");
    expect(() => sqlString('a\nb')).toThrow(/control characters/);
  });
});

describe('Function: timelineQuery', () => {
  it('refuses identifiers that are not Glue names and values that are not grant ids', () => {
    const g = { grantId: 'tb-01jd4x7z8y9k2m3n4p5q6r7s8t', principal: 'a@b.c', from: new Date(), until: new Date() };
    expect(() => timelineQuery({ ...SETTINGS, database: 'x"; DROP' }, g)).toThrow(/Glue names/);
    expect(() => timelineQuery(SETTINGS, { ...g, grantId: "x' OR 1=1" })).toThrow(/not a grant id/);
    expect(() => timelineQuery({ ...SETTINGS, regions: ['eu-west-1; --'] }, g)).toThrow(/region names/);
  });
});

describe('Function: attribute', () => {
  it('ties real CloudTrail records to the grant: own session, chained session, same identity; drops the rest', async () => {
    const { grant } = await activeGrant();
    const actions = attribute(records(grant.id).map(asRow), {
      grantId: grant.id,
      principal: 'alice@corp.com',
      roleArn: ROLE,
    });
    expect(actions.map((a) => [a.at, a.eventName, a.via])).toEqual([
      ['2026-11-24T10:00:05Z', 'GetCallerIdentity', 'grant-session'],
      ['2026-11-24T10:01:00Z', 'ConsoleLogin', 'grant-session'],
      ['2026-11-24T10:03:10Z', 'GetBucketPolicy', 'grant-session'],
      ['2026-11-24T10:04:00Z', 'DescribeAlarms', 'same-identity'],
      ['2026-11-24T10:05:00Z', 'AssumeRole', 'grant-session'],
      ['2026-11-24T10:06:30Z', 'DescribeInstances', 'chained'],
    ]);
    const denied = actions.find((a) => a.eventName === 'GetBucketPolicy');
    expect(denied).toMatchObject({
      errorCode: 'AccessDenied',
      resources: ['arn:aws:s3:::prod-logs'],
      sessionName: grant.id,
      sourceIdentity: 'alice@corp.com',
      roleArn: ROLE,
      region: 'eu-west-1',
      readOnly: true,
    });
    // The console sign-in carries no source identity; it is still alice's, through the grant's own session.
    const login = actions.find((a) => a.eventName === 'ConsoleLogin');
    expect(login?.sourceIdentity).toBeUndefined();
    expect(login?.actor).toBe('alice@corp.com');
  });

  it('does not take a session named after the grant in some other role for the grant session', async () => {
    const { grant } = await activeGrant();
    const impostor = records(grant.id)[0] as TrailRecord;
    const row = asRow({
      ...impostor,
      userIdentity: sessionIdentity(`arn:aws:iam::${ACCOUNT}:role/attacker`, grant.id, 'mallory@corp.com'),
    });
    expect(attribute([row], { grantId: grant.id, principal: 'alice@corp.com', roleArn: ROLE })).toEqual([]);
  });
});

describe('Class: CloudTrailActions', () => {
  describe('Method: forGrant', () => {
    it("shows a spoke grant's calls, recorded by the spoke account's trail, global (us-east-1) events included", async () => {
      // Prepare: a grant on a target role in a spoke account; the calls made with it are in the spoke's CloudTrail
      // (userIdentity.accountId and recipientAccountId are the spoke), delivered into the hub bucket and projected.
      const SPOKE = '444455556666';
      const spokeRole = `arn:aws:iam::${SPOKE}:role/timebox/timebox-spoke-logs`;
      const { grant: hubGrant } = await activeGrant();
      const grant = {
        ...hubGrant,
        target: { ...hubGrant.target, account: SPOKE, roleArn: spokeRole },
      } as Grant;
      const identity = {
        type: 'AssumedRole',
        principalId: `AROASPOKEEXAMPLE:${grant.id}`,
        arn: `arn:aws:sts::${SPOKE}:assumed-role/timebox-spoke-logs/${grant.id}`,
        accountId: SPOKE,
        accessKeyId: 'ASIASPOKEKEY',
        sessionContext: {
          sessionIssuer: {
            type: 'Role',
            principalId: 'AROASPOKEEXAMPLE',
            arn: spokeRole,
            accountId: SPOKE,
            userName: 'timebox-spoke-logs',
          },
          attributes: { creationDate: '2026-11-24T10:00:02Z', mfaAuthenticated: 'false' },
          sourceIdentity: 'alice@corp.com',
        },
      };
      const spokeRecords = [
        {
          eventVersion: '1.09',
          userIdentity: identity,
          eventTime: '2026-11-24T10:04:00Z',
          eventSource: 'logs.amazonaws.com',
          eventName: 'GetLogEvents',
          awsRegion: 'eu-west-1',
          sourceIPAddress: '10.1.2.3',
          userAgent: 'aws-cli/2.15.0',
          requestParameters: { logGroupName: 'app', logStreamName: 'web-1' },
          responseElements: null,
          requestID: 'spoke-req-1',
          eventID: 'f0000001-0000-4000-8000-000000000001',
          readOnly: true,
          eventType: 'AwsApiCall',
          managementEvent: true,
          recipientAccountId: SPOKE,
          eventCategory: 'Management',
        },
        {
          // IAM is a global service: CloudTrail records it in us-east-1, whatever region the caller used.
          eventVersion: '1.09',
          userIdentity: identity,
          eventTime: '2026-11-24T10:06:30Z',
          eventSource: 'iam.amazonaws.com',
          eventName: 'ListRoles',
          awsRegion: 'us-east-1',
          sourceIPAddress: '10.1.2.3',
          userAgent: 'aws-cli/2.15.0',
          errorCode: 'AccessDenied',
          errorMessage: `User: ${identity.arn} is not authorized to perform: iam:ListRoles because no session policy allows the iam:ListRoles action`,
          requestParameters: null,
          responseElements: null,
          requestID: 'spoke-req-2',
          eventID: 'f0000002-0000-4000-8000-000000000002',
          readOnly: true,
          eventType: 'AwsApiCall',
          managementEvent: true,
          recipientAccountId: SPOKE,
          eventCategory: 'Management',
        },
      ] as unknown as TrailRecord[];
      const { mock, source } = setup();
      mock.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-spoke' });
      mock.on(GetQueryExecutionCommand).resolves({ QueryExecution: { Status: { State: 'SUCCEEDED' } } });
      mock.on(GetQueryResultsCommand).resolves(page(spokeRecords.map(asRow), { header: true }));

      // Act
      const result = await source.forGrant(grant);

      // Assess: the query scans every projected account (no account filter) and region, us-east-1 included
      const input = mock.commandCalls(StartQueryExecutionCommand)[0]?.args[0].input;
      const where = (input?.QueryString ?? '').split('WHERE')[1] ?? '';
      expect(where).not.toMatch(/recipientaccountid|accountid|\baccount\b/);
      expect(input?.ExecutionParameters).toEqual(expect.arrayContaining(["'us-east-1'"]));
      expect(input?.ExecutionParameters?.join(' ')).not.toContain(ACCOUNT);
      // ...and both calls are the grant's own, in the spoke account.
      expect(result?.actions.map((a) => [a.eventName, a.region, a.account, a.via, a.actor])).toEqual([
        ['GetLogEvents', 'eu-west-1', SPOKE, 'grant-session', 'alice@corp.com'],
        ['ListRoles', 'us-east-1', SPOKE, 'grant-session', 'alice@corp.com'],
      ]);
      expect(result?.actions[1]).toMatchObject({
        errorCode: 'AccessDenied',
        roleArn: spokeRole,
        sessionName: grant.id,
      });
    });

    it('starts one parameterised query over the projected regions and days, with every value as a parameter', async () => {
      // Prepare
      const { mock, source } = setup();
      const { grant } = await activeGrant();
      mock.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-1' });
      mock.on(GetQueryExecutionCommand).resolves({ QueryExecution: { Status: { State: 'SUCCEEDED' } } });
      mock.on(GetQueryResultsCommand).resolves(page([], { header: true }));

      // Act
      await source.forGrant(grant);

      // Assess
      const input = mock.commandCalls(StartQueryExecutionCommand)[0]?.args[0].input;
      const from = new Date(Date.parse(grant.activatedAt as string) - 60_000);
      const until = new Date(Date.parse(grant.endedAt as string) + 15 * 60_000);
      const sec = (d: Date) => `${d.toISOString().slice(0, 19)}Z`;
      expect(input?.ExecutionParameters).toEqual([
        "'eu-west-1'",
        "'us-east-1'",
        "'2026/11/24'",
        "'2026/11/24'",
        `'${sec(from)}'`,
        `'${sec(until)}'`,
        "'alice@corp.com'",
        `'${grant.id}'`,
      ]);
      expect(input).toMatchObject({
        WorkGroup: 'timebox-prod',
        QueryExecutionContext: { Database: 'timebox_prod_audit' },
        ClientRequestToken: expect.stringMatching(/^[0-9a-f]{64}$/),
      });
      const sql = input?.QueryString ?? '';
      expect(sql).toContain('FROM "timebox_prod_audit"."cloudtrail"');
      expect(sql).toContain('WHERE region IN (?, ?)');
      expect(sql).toContain('"timestamp" BETWEEN ? AND ?');
      expect(sql).toContain('useridentity.sessioncontext.sourceidentity = ?');
      expect(sql).toContain("element_at(split(useridentity.arn, '/'), -1) = ?");
      // Nothing the grant carries is ever in the SQL text itself.
      expect(sql).not.toContain('alice');
      expect(sql).not.toContain(grant.id);
      expect(sql.match(/\?/g)).toHaveLength(8);
    });

    it('asks for the same query again within five minutes (idempotent start), and a new one after', async () => {
      const { mock, source, advance } = setup();
      const { grant } = await activeGrant();
      mock.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-1' });
      mock.on(GetQueryExecutionCommand).resolves({ QueryExecution: { Status: { State: 'SUCCEEDED' } } });
      mock.on(GetQueryResultsCommand).resolves(page([], { header: true }));
      await source.forGrant(grant);
      advance(60_000);
      await source.forGrant(grant);
      advance(5 * 60_000);
      await source.forGrant(grant);
      const tokens = mock.commandCalls(StartQueryExecutionCommand).map((c) => c.args[0].input.ClientRequestToken);
      expect(tokens[0]).toBe(tokens[1]);
      expect(tokens[2]).not.toBe(tokens[1]);
    });

    it('polls with backoff until the query succeeds, then pages through every result page', async () => {
      // Prepare
      const { mock, source, sleeps } = setup();
      const { grant } = await activeGrant();
      const rows = records(grant.id).map(asRow);
      mock.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-2' });
      mock
        .on(GetQueryExecutionCommand)
        .resolvesOnce({ QueryExecution: { Status: { State: 'QUEUED' } } })
        .resolvesOnce({ QueryExecution: { Status: { State: 'RUNNING' } } })
        .resolves({ QueryExecution: { Status: { State: 'SUCCEEDED' } } });
      mock
        .on(GetQueryResultsCommand)
        .resolvesOnce(page(rows.slice(0, 3), { header: true, next: 'page-2' }))
        .resolvesOnce(page(rows.slice(3, 6), { header: false, next: 'page-3' }))
        .resolves(page(rows.slice(6), { header: false }));

      // Act
      const result = await source.forGrant(grant);

      // Assess
      expect(sleeps).toEqual([250, 500]);
      expect(mock.commandCalls(GetQueryResultsCommand).map((c) => c.args[0].input)).toEqual([
        { QueryExecutionId: 'q-2', MaxResults: 1000 },
        { QueryExecutionId: 'q-2', MaxResults: 1000, NextToken: 'page-2' },
        { QueryExecutionId: 'q-2', MaxResults: 1000, NextToken: 'page-3' },
      ]);
      expect(result?.actions).toHaveLength(6);
      expect(result?.truncated).toBe(false);
      expect(result?.queryExecutionId).toBe('q-2');
    });

    it('stops reading at the row limit and says the result is truncated', async () => {
      const { mock, source } = setup({ maxRows: 2 });
      const { grant } = await activeGrant();
      const rows = records(grant.id).map(asRow).slice(0, 3);
      mock.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-3' });
      mock.on(GetQueryExecutionCommand).resolves({ QueryExecution: { Status: { State: 'SUCCEEDED' } } });
      mock.on(GetQueryResultsCommand).resolves(page(rows, { header: true }));
      const result = await source.forGrant(grant);
      expect(result?.truncated).toBe(true);
      expect(result?.actions.length).toBeLessThanOrEqual(2);
      expect(mock.commandCalls(StartQueryExecutionCommand)[0]?.args[0].input.QueryString).toContain('LIMIT 3');
    });

    it('times out clearly with a stable code and the query id to pick up later', async () => {
      const { mock, source } = setup({ deadlineMs: 5_000 });
      const { grant } = await activeGrant();
      mock.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-slow' });
      mock.on(GetQueryExecutionCommand).resolves({ QueryExecution: { Status: { State: 'RUNNING' } } });
      await expect(source.forGrant(grant)).rejects.toMatchObject({
        code: 'AUDIT.QUERY_TIMEOUT',
        kind: 'unavailable',
        details: { queryExecutionId: 'q-slow' },
      });
      expect(mock.commandCalls(GetQueryResultsCommand)).toHaveLength(0);
    });

    it('reports a failed query with Athena reason, and translates refused calls', async () => {
      const failed = setup();
      const { grant } = await activeGrant();
      failed.mock.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-bad' });
      failed.mock.on(GetQueryExecutionCommand).resolves({
        QueryExecution: {
          Status: {
            State: 'FAILED',
            StateChangeReason: 'TABLE_NOT_FOUND',
            AthenaError: { ErrorCategory: 2, ErrorMessage: "line 9:6: Table 'cloudtrail' does not exist" },
          },
        },
      });
      await expect(failed.source.forGrant(grant)).rejects.toMatchObject({
        code: 'AUDIT.QUERY_FAILED',
        message: expect.stringContaining('does not exist'),
      });

      const throttled = setup();
      throttled.mock
        .on(StartQueryExecutionCommand)
        .rejects(new TooManyRequestsException({ message: 'rate exceeded', $metadata: {} }));
      await expect(throttled.source.forGrant(grant)).rejects.toMatchObject({ code: 'AWS.THROTTLED' });
    });

    it('does not query for grants that are not AWS roles', async () => {
      const { mock, source } = setup();
      const w = world();
      const { grant } = await w.service.request(
        alice,
        requestDummy({ target: 'user-service', scopes: ['/acme.user.v1.UserService/*'] }),
      );
      expect(grant.status).toBe('active');
      expect(await source.forGrant(grant)).toBeUndefined();
      expect(mock.commandCalls(StartQueryExecutionCommand)).toHaveLength(0);
    });
  });
});

describe('Function: mergeTimeline', () => {
  it('orders lifecycle events and calls by time; in the same second lifecycle first, then by seq and event id', async () => {
    const { grant, events } = await activeGrant();
    const base = Date.parse(events[0]?.at as string);
    const at = (ms: number) => new Date(base + ms).toISOString();
    const sec = (ms: number) => `${at(ms).slice(0, 19)}Z`;
    const lifecycle = events.map((e, i) => ({ ...e, at: at(i === 0 ? 0 : i === 1 ? 0 : e.seq * 60_000) }));
    const rows = [
      { ...asRow(records(grant.id)[0] as TrailRecord), eventtime: sec(1500), eventid: 'b' },
      { ...asRow(records(grant.id)[0] as TrailRecord), eventtime: sec(1500), eventid: 'a' },
      // Recorded as the same whole second as the activation (CloudTrail has no milliseconds).
      { ...asRow(records(grant.id)[0] as TrailRecord), eventtime: sec(0), eventid: 'c' },
    ];
    const actions = attribute(rows, { grantId: grant.id, principal: 'alice@corp.com', roleArn: ROLE });
    const merged = mergeTimeline(lifecycle, actions);
    expect(merged.map((e) => (e.kind === 'lifecycle' ? `L${e.seq}` : `C${e.eventId}`))).toEqual([
      ...lifecycle.filter((e) => Date.parse(e.at) < base + 1000).map((e) => `L${e.seq}`),
      'Cc',
      'Ca',
      'Cb',
      ...lifecycle.filter((e) => Date.parse(e.at) >= base + 1000).map((e) => `L${e.seq}`),
    ]);
    const call = merged.find((e) => e.eventId === 'a');
    expect(call).toMatchObject({
      kind: 'cloud',
      who: 'alice@corp.com',
      what: 'sts:GetCallerIdentity',
      service: 'sts',
      sourceIp: '10.1.2.3',
      via: 'grant-session',
    });
    const first = merged[0];
    expect(first).toMatchObject({ kind: 'lifecycle', what: 'requested', who: 'alice@corp.com', service: 'timebox' });
  });
});

describe('Function: mergeTimeline (property)', () => {
  it('keeps every entry, in order of the second, lifecycle first within a second, seq order kept', async () => {
    const { events } = await activeGrant();
    const base = Date.parse('2026-11-24T10:00:00Z');
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 10_000 }), { minLength: events.length, maxLength: events.length }),
        fc.array(
          fc.record({
            s: fc.integer({ min: 0, max: 10 }),
            id: fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 4, maxLength: 4 }),
          }),
          {
            maxLength: 20,
          },
        ),
        (offsets, calls) => {
          const sorted = [...offsets].sort((a, b) => a - b);
          const lifecycle = events.map((e, i) => ({ ...e, at: new Date(base + (sorted[i] as number)).toISOString() }));
          const actions = calls.map((c) => ({
            at: `${new Date(base + c.s * 1000).toISOString().slice(0, 19)}Z`,
            actor: 'alice@corp.com',
            eventId: c.id,
            eventSource: 'sts.amazonaws.com',
            eventName: 'GetCallerIdentity',
            region: 'us-east-1',
            resources: [],
            via: 'grant-session' as const,
          }));
          const merged = mergeTimeline(lifecycle, actions);
          const second = (at: string) => Math.floor(Date.parse(at) / 1000);
          const inOrder = merged.every((e, i) => {
            const prev = merged[i - 1];
            if (!prev) return true;
            const d = second(prev.at) - second(e.at);
            return d < 0 || (d === 0 && !(prev.kind === 'cloud' && e.kind === 'lifecycle'));
          });
          const seqs = merged.filter((e) => e.kind === 'lifecycle').map((e) => e.seq);
          return (
            merged.length === lifecycle.length + actions.length &&
            inOrder &&
            JSON.stringify(seqs) === JSON.stringify(lifecycle.map((e) => e.seq))
          );
        },
      ),
    );
  });
});

describe('Function: grantTimeline', () => {
  it('merges cloud actions with the lag and data-event notes', async () => {
    const { grant, events } = await activeGrant();
    const actions = attribute(records(grant.id).map(asRow), {
      grantId: grant.id,
      principal: 'alice@corp.com',
      roleArn: ROLE,
    });
    const cloud: CloudActionSource = {
      forGrant: async () => ({ queryExecutionId: 'q', window: { from: 'a', until: 'b' }, actions, truncated: false }),
    };
    const t = await grantTimeline(grant, events, cloud);
    expect(t.cloud).toEqual({ status: 'complete', window: { from: 'a', until: 'b' }, queryExecutionId: 'q' });
    expect(t.entries).toHaveLength(events.length + actions.length);
    expect(t.notes).toContain(CLOUDTRAIL_LAG_NOTE);
    expect(t.notes).toContain(DATA_EVENTS_NOTE);
    expect(t.notes.join(' ')).toContain('same-identity');
  });

  it('says so when there is no cloud source (local mode): lifecycle events only', async () => {
    const { grant, events } = await activeGrant();
    const t = await grantTimeline(grant, events, undefined);
    expect(t.cloud.status).toBe('not-configured');
    expect(t.notes).toEqual([NOT_CONFIGURED_NOTE]);
    expect(t.entries.every((e) => e.kind === 'lifecycle')).toBe(true);
    expect(t.entries).toHaveLength(events.length);
  });

  it('keeps the lifecycle events when the query is still running or failed, and says which', async () => {
    const { grant, events } = await activeGrant();
    const { source, mock } = setup({ deadlineMs: 1_000 });
    mock.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-slow' });
    mock.on(GetQueryExecutionCommand).resolves({ QueryExecution: { Status: { State: 'RUNNING' } } });
    const running = await grantTimeline(grant, events, source);
    expect(running.cloud).toMatchObject({
      status: 'running',
      queryExecutionId: 'q-slow',
      error: { code: 'AUDIT.QUERY_TIMEOUT' },
    });
    expect(running.entries).toHaveLength(events.length);
    const failed = await grantTimeline(grant, events, {
      forGrant: async () => {
        throw new Error('boom');
      },
    });
    expect(failed.cloud).toMatchObject({ status: 'failed', error: { code: 'AUDIT.QUERY_FAILED' } });
  });
});
