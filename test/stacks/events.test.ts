import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import * as pulumi from '@pulumi/pulumi';
import { DETAIL_TYPES } from '../../adapters/notify/detail';
import { iamPatternMatches } from '../../core/scope/aws';
import { ENV } from '../../lambdas/config';
import { REMINDERS_INPUT } from '../../lambdas/notifier/handler';
import { parseNotificationsConfig } from '../../stacks/config';
import { Notifications } from '../../stacks/notifications';
import { type BrokerContext, notifierPolicy, slackPolicy, wildcardAllows } from '../../stacks/policies';
import { timebox } from '../../stacks/program';
import { expectWith } from '../helpers/runner';
import { configDummy, fakeBundles, POLICY_YAML, projectWithPolicy, SPOKE_ACCOUNT } from './helpers/pulumi-mocks';

/**
 * The Notifications component under Pulumi mocks: every resource is recorded with its inputs, computed values
 * (ARNs, URLs) are made up the way AWS forms them, and any provider function call throws.
 */
interface Recorded {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}
const resources: Recorded[] = [];
const ACCOUNT = '111122223333';
const R = `eu-west-1:${ACCOUNT}`;

function computed(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  const physical = typeof inputs.name === 'string' ? inputs.name : `${name}-abc1234`;
  switch (type) {
    case 'aws:secretsmanager/secret:Secret':
      return { arn: `arn:aws:secretsmanager:${R}:secret:${physical}-AbCdEf` };
    case 'aws:lambda/function:Function': {
      const arn = `arn:aws:lambda:${R}:function:${physical}`;
      return {
        arn,
        name: physical,
        invokeArn: `arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/${arn}/invocations`,
      };
    }
    case 'aws:iam/role:Role':
      return { arn: `arn:aws:iam::${ACCOUNT}:role/${physical}`, name: physical };
    case 'aws:sqs/queue:Queue':
      return {
        arn: `arn:aws:sqs:${R}:${physical}`,
        name: physical,
        url: `https://sqs.eu-west-1.amazonaws.com/${ACCOUNT}/${physical}`,
      };
    case 'aws:cloudwatch/logGroup:LogGroup':
      return { arn: `arn:aws:logs:${R}:log-group:${physical}` };
    case 'aws:cloudwatch/eventRule:EventRule':
      return { arn: `arn:aws:events:${R}:rule/${physical}`, name: physical };
    case 'aws:cloudwatch/eventArchive:EventArchive':
      return { arn: `arn:aws:events:${R}:archive/${physical}` };
    case 'aws:cloudwatch/eventConnection:EventConnection':
      return { arn: `arn:aws:events:${R}:connection/${physical}/uuid` };
    case 'aws:cloudwatch/eventApiDestination:EventApiDestination':
      return { arn: `arn:aws:events:${R}:api-destination/${physical}/uuid` };
    case 'aws:apigatewayv2/api:Api':
      return {
        apiEndpoint: 'https://abc123.execute-api.eu-west-1.amazonaws.com',
        executionArn: `arn:aws:execute-api:${R}:abc123`,
      };
    default:
      return {};
  }
}

beforeAll(async () => {
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const inputs = args.inputs as Record<string, unknown>;
        resources.push({ type: args.type, name: args.name, inputs });
        return { id: `${args.name}-id`, state: { ...inputs, ...computed(args.type, args.name, inputs) } };
      },
      call(args) {
        switch (args.token) {
          case 'aws:index/getCallerIdentity:getCallerIdentity':
            return { accountId: ACCOUNT, arn: `arn:aws:iam::${ACCOUNT}:user/deployer`, userId: 'AIDADEPLOYER' };
          case 'aws:index/getPartition:getPartition':
            return { partition: 'aws', dnsSuffix: 'amazonaws.com', reverseDnsPrefix: 'com.amazonaws' };
          case 'aws:index/getRegion:getRegion':
            return { region: 'eu-west-1', name: 'eu-west-1' };
          default:
            throw new Error(`unexpected provider call ${args.token}`);
        }
      },
    },
    'timebox',
    'prod',
    false,
  );
});

const settle = () => (require('@pulumi/pulumi/runtime/settings') as { waitForRPCs(): Promise<void> }).waitForRPCs();
const ofType = (t: string) => resources.filter((r) => r.type === t);
const one = (t: string, name: string) => {
  const found = resources.filter((r) => r.type === t && r.name === name);
  if (found.length !== 1) throw new Error(`expected one ${t} named ${name}, found ${found.length}`);
  return found[0] as Recorded;
};
const docOf = (v: unknown) => JSON.parse(v as string) as { Statement: Record<string, unknown>[] };

const CONTEXT: BrokerContext = {
  partition: 'aws',
  region: 'eu-west-1',
  account: ACCOUNT,
  spokeAccounts: [],
  eventsTableArn: `arn:aws:dynamodb:${R}:table/events`,
  grantsTableArn: `arn:aws:dynamodb:${R}:table/grants`,
  signingKeyArn: `arn:aws:kms:${R}:key/k`,
  schedulerGroupName: 'timebox',
  schedulerRoleArn: `arn:aws:iam::${ACCOUNT}:role/timebox-prod-scheduler`,
  eventBusArn: `arn:aws:events:${R}:event-bus/timebox`,
  deadLetterQueueArn: `arn:aws:sqs:${R}:timebox-dlq`,
  boundaryArn: `arn:aws:iam::${ACCOUNT}:policy/timebox-prod-boundary`,
};

async function declare(raw: Record<string, string>) {
  resources.length = 0;
  const n = new Notifications('notify', {
    namePrefix: 'timebox-prod',
    account: ACCOUNT,
    config: parseNotificationsConfig(raw),
    distDir: fakeBundles(['notifier', 'slack']),
    policyBundleJson: '{}',
    logRetentionDays: 90,
    bus: { name: 'timebox', arn: CONTEXT.eventBusArn },
    grantsTableArn: CONTEXT.grantsTableArn,
    broker: {
      context: CONTEXT,
      environment: {
        [ENV.eventsTable]: 'events',
        [ENV.grantsTable]: 'grants',
        [ENV.policyFile]: './policy.json',
        [ENV.issuer]: 'https://api.example/live',
        [ENV.schedulerGroup]: 'timebox',
        [ENV.schedulerRoleArn]: CONTEXT.schedulerRoleArn,
        [ENV.schedulerDlqArn]: CONTEXT.deadLetterQueueArn,
        [ENV.revokeFunctionArn]: `arn:aws:lambda:${R}:function:timebox-prod-revoke`,
        [ENV.eventBus]: 'timebox',
        [ENV.accountId]: ACCOUNT,
      },
    },
    alarmTopicArn: `arn:aws:sns:${R}:alarms`,
  });
  const url = n.slackRequestUrl ? await new Promise((r) => n.slackRequestUrl?.apply(r)) : undefined;
  await settle();
  return { n, url };
}

const FULL = {
  slack: JSON.stringify({ channel: 'C0APPROVALS', teamId: 'T0ACME' }),
  signedWebhooks: 'true',
  apiDestinations: JSON.stringify([
    { name: 'siem', url: 'https://siem.example.com/timebox' },
    {
      name: 'pager',
      url: 'https://pager.example.com/in',
      events: ['revoked', 'Timebox Access Failed'],
      header: 'X-Pager-Key',
    },
  ]),
};

describe('Function: parseNotificationsConfig', () => {
  it('names every bad key', async () => {
    expect(() =>
      parseNotificationsConfig({
        slack: '{"channel":"general"}',
        apiDestinations: '[{"name":"x","url":"http://plain.example"}]',
        reminderLead: 'soon',
        slak: 'x',
      }),
    ).toThrow(
      /timebox-notify:slack\.channel: must be a Slack channel id[\s\S]*timebox-notify:apiDestinations\[0\]\.url: must be https[\s\S]*timebox-notify:reminderLead/,
    );
    expect(() => parseNotificationsConfig({ slak: 'x' })).toThrow(/unknown key slak/);
    expect(() => parseNotificationsConfig({ slack: '{' })).toThrow(/timebox-notify:slack: must be JSON/);
  });
});

describe('IAM documents', () => {
  it('lets each function read exactly its own secrets, and the notifier nothing it does not use', async () => {
    const p = notifierPolicy({
      logGroupArn: 'arn:aws:logs:x:log-group:n',
      grantsTableArn: CONTEXT.grantsTableArn,
      secretArns: ['arn:s2', 'arn:s1'],
      deadLetterQueueArn: 'arn:q',
    });
    expect(p.Statement.find((s) => s.Sid === 'ReadOwnSecrets')).toEqual({
      Sid: 'ReadOwnSecrets',
      Effect: 'Allow',
      Action: 'secretsmanager:GetSecretValue',
      Resource: ['arn:s1', 'arn:s2'],
    });
    expect(p.Statement.flatMap((s) => [s.Action].flat())).toEqual([
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'dynamodb:Query',
      'secretsmanager:GetSecretValue',
      'sqs:SendMessage',
    ]);
    const s = slackPolicy(CONTEXT, 'arn:aws:logs:x:log-group:s', ['arn:sig']);
    const actions = s.Statement.flatMap((x) => [x.Action].flat());
    expect(actions).toContain('events:PutEvents');
    expect(actions).toContain('scheduler:CreateSchedule');
    expect(actions).not.toContain('sts:AssumeRole');
    expect(actions).not.toContain('kms:Sign');
    expect(actions).not.toContain('iam:PutRolePolicy');
    expect(wildcardAllows(p)).toEqual([]);
    expect(wildcardAllows(s)).toEqual([]);
  });
});

describe('Class: Notifications', () => {
  it('routes every lifecycle event on the bus to the notifier, with retries and a dead-letter queue', async () => {
    await declare(FULL);
    const rule = one('aws:cloudwatch/eventRule:EventRule', 'notify-lifecycle');
    expect(rule.inputs.eventBusName).toBe('timebox');
    expect(JSON.parse(rule.inputs.eventPattern as string)).toEqual({
      source: ['timebox'],
      'detail-type': Object.values(DETAIL_TYPES),
    });
    const target = one('aws:cloudwatch/eventTarget:EventTarget', 'notify-lifecycle-target');
    expect(target.inputs).toMatchObject({
      arn: `arn:aws:lambda:${R}:function:timebox-prod-notifier`,
      eventBusName: 'timebox',
      retryPolicy: { maximumEventAgeInSeconds: 86400, maximumRetryAttempts: 185 },
      deadLetterConfig: { arn: `arn:aws:sqs:${R}:notify-dlq-abc1234` },
    });
    const fn = one('aws:lambda/function:Function', 'notify-notifier');
    expect(fn.inputs.deadLetterConfig).toEqual({ targetArn: `arn:aws:sqs:${R}:notify-dlq-abc1234` });
    const permission = one('aws:lambda/permission:Permission', 'notify-lifecycle-invoke');
    expect(permission.inputs).toMatchObject({
      principal: 'events.amazonaws.com',
      sourceArn: `arn:aws:events:${R}:rule/notify-lifecycle-abc1234`,
    });
    const queuePolicy = docOf(one('aws:sqs/queuePolicy:QueuePolicy', 'notify-dlq-policy').inputs.policy);
    expect(queuePolicy.Statement[0]).toMatchObject({
      Principal: { Service: 'events.amazonaws.com' },
      Action: 'sqs:SendMessage',
      Condition: {
        ArnEquals: { 'aws:SourceArn': expect.arrayContaining([`arn:aws:events:${R}:rule/notify-lifecycle-abc1234`]) },
      },
    });
  });

  it('sends the reminder input every five minutes', async () => {
    await declare(FULL);
    expect(one('aws:cloudwatch/eventRule:EventRule', 'notify-reminders').inputs.scheduleExpression).toBe(
      'rate(5 minutes)',
    );
    expect(
      JSON.parse(one('aws:cloudwatch/eventTarget:EventTarget', 'notify-reminders-target').inputs.input as string),
    ).toEqual(REMINDERS_INPUT);
  });

  it('delivers webhooks through API destinations with an API-key connection, filtered per receiver', async () => {
    await declare(FULL);
    const connection = one('aws:cloudwatch/eventConnection:EventConnection', 'notify-pager-connection');
    expect(connection.inputs).toMatchObject({
      authorizationType: 'API_KEY',
      authParameters: { apiKey: { key: 'X-Pager-Key', value: 'set-with-aws-events-update-connection' } },
    });
    expect(
      one('aws:cloudwatch/eventApiDestination:EventApiDestination', 'notify-pager-destination').inputs,
    ).toMatchObject({
      invocationEndpoint: 'https://pager.example.com/in',
      httpMethod: 'POST',
      connectionArn: `arn:aws:events:${R}:connection/timebox-prod-pager/uuid`,
    });
    expect(
      JSON.parse(one('aws:cloudwatch/eventRule:EventRule', 'notify-pager-rule').inputs.eventPattern as string),
    ).toEqual({
      source: ['timebox'],
      'detail-type': ['Timebox Access Failed', 'Timebox Grant Revoked'],
    });
    const target = one('aws:cloudwatch/eventTarget:EventTarget', 'notify-pager-target');
    expect(target.inputs).toMatchObject({
      arn: `arn:aws:events:${R}:api-destination/timebox-prod-pager/uuid`,
      roleArn: `arn:aws:iam::${ACCOUNT}:role/notify-webhooks-role-abc1234`,
      retryPolicy: { maximumRetryAttempts: 185 },
    });
    const invoke = docOf(one('aws:iam/rolePolicy:RolePolicy', 'notify-webhooks-policy').inputs.policy);
    expect(invoke.Statement[0]?.Resource).toEqual([
      `arn:aws:events:${R}:api-destination/timebox-prod-pager/uuid`,
      `arn:aws:events:${R}:api-destination/timebox-prod-siem/uuid`,
    ]);
  });

  it('exposes only the Slack route without IAM auth, on its own HTTP API, throttled', async () => {
    const { url } = await declare(FULL);
    const routes = ofType('aws:apigatewayv2/route:Route');
    expect(routes.map((r) => [r.inputs.routeKey, r.inputs.authorizationType])).toEqual([
      ['POST /slack/interactions', 'NONE'],
    ]);
    expect(one('aws:apigatewayv2/integration:Integration', 'notify-slack-integration').inputs).toMatchObject({
      integrationType: 'AWS_PROXY',
      integrationUri: `arn:aws:lambda:${R}:function:timebox-prod-slack`,
      payloadFormatVersion: '2.0',
    });
    expect(one('aws:apigatewayv2/stage:Stage', 'notify-slack-stage').inputs.defaultRouteSettings).toEqual({
      throttlingBurstLimit: 20,
      throttlingRateLimit: 10,
    });
    expect(one('aws:lambda/permission:Permission', 'notify-slack-invoke').inputs.sourceArn).toBe(
      `arn:aws:execute-api:${R}:abc123/*/*/slack/interactions`,
    );
    expect(url).toBe('https://abc123.execute-api.eu-west-1.amazonaws.com/slack/interactions');
  });

  it('puts secret ARNs, never values, in the environment, and grants each function only its own secrets', async () => {
    await declare(FULL);
    expect(ofType('aws:secretsmanager/secret:Secret').map((s) => s.inputs.name)).toEqual([
      'timebox-prod/slack-signing-secret',
      'timebox-prod/slack-bot-token',
      'timebox-prod/slack-users',
      'timebox-prod/webhooks',
    ]);
    // The stack never holds a secret value: no versions, the operator sets them.
    expect(ofType('aws:secretsmanager/secretVersion:SecretVersion')).toEqual([]);
    const envOf = (name: string) =>
      (one('aws:lambda/function:Function', name).inputs.environment as { variables: Record<string, string> }).variables;
    const secretArn = (key: string) => `arn:aws:secretsmanager:${R}:secret:timebox-prod/${key}-AbCdEf`;
    const notifier = envOf('notify-notifier');
    expect(notifier).toEqual({
      [ENV.grantsTable]: 'grants',
      [ENV.slackBotTokenArn]: secretArn('slack-bot-token'),
      [ENV.slackUsersArn]: secretArn('slack-users'),
      [ENV.slackChannel]: 'C0APPROVALS',
      [ENV.webhooksSecretArn]: secretArn('webhooks'),
      [ENV.reminderLead]: '15m',
    });
    const slack = envOf('notify-slack');
    expect(slack[ENV.slackSigningSecretArn]).toBe(secretArn('slack-signing-secret'));
    expect(slack[ENV.slackTeamId]).toBe('T0ACME');
    expect(slack[ENV.slackBotTokenArn]).toBeUndefined();
    for (const [k, v] of Object.entries({ ...notifier, ...slack }))
      if (k.endsWith('_ARN') && k.includes('SLACK')) expect(v).toMatch(/^arn:aws:secretsmanager:/);
    const readable = (policy: string) =>
      docOf(one('aws:iam/rolePolicy:RolePolicy', policy).inputs.policy).Statement.find(
        (s) => s.Sid === 'ReadOwnSecrets',
      )?.Resource;
    expect(readable('notify-notifier-policy')).toEqual(
      [secretArn('slack-bot-token'), secretArn('slack-users'), secretArn('webhooks')].sort(),
    );
    expect(readable('notify-slack-policy')).toEqual(
      [secretArn('slack-signing-secret'), secretArn('slack-users')].sort(),
    );
  });

  it('declares nothing when no notification is configured, and no Slack parts without Slack', async () => {
    await declare({});
    expect(resources.filter((r) => r.type !== 'timebox:aws:Notifications')).toEqual([]);
    await declare({ signedWebhooks: 'true' });
    expect(ofType('aws:lambda/function:Function').map((f) => f.name)).toEqual(['notify-notifier']);
    expect(ofType('aws:apigatewayv2/route:Route')).toEqual([]);
    expect(ofType('aws:secretsmanager/secret:Secret').map((s) => s.inputs.name)).toEqual(['timebox-prod/webhooks']);
    expect(resources.some((r) => r.name === 'notify-reminders')).toBe(false);
  });
});

describe('Program: timebox with notifications', () => {
  /** Bundles for every function, in both layouts the build has written (index.js, and index.mjs with meta.json). */
  function bundles() {
    const dir = fakeBundles(['api', 'revoke', 'sweeper', 'notifier', 'slack']);
    for (const h of ['api', 'revoke', 'sweeper', 'notifier', 'slack']) {
      writeFileSync(join(dir, h, 'index.mjs'), 'export const handler = async () => null;\n');
      writeFileSync(join(dir, h, 'index.mjs.map'), '{"version":3,"sources":[],"mappings":""}\n');
    }
    return dir;
  }

  it('leaves every broker route on IAM auth but the public GETs, and the Slack route alone without it', async () => {
    resources.length = 0;
    const out = await timebox({
      config: configDummy({ spokeAccounts: JSON.stringify([SPOKE_ACCOUNT]) }),
      projectDir: projectWithPolicy(POLICY_YAML),
      distDir: bundles(),
      stack: 'prod',
      notifications: parseNotificationsConfig(FULL),
    });
    const slackUrl = await new Promise((r) => out.slackRequestUrl?.apply(r));
    const secrets = await new Promise((r) => out.notificationSecrets.apply(r));
    await settle();

    const methods = ofType('aws:apigateway/method:Method');
    expect(methods.length).toBeGreaterThan(3);
    const open = methods.filter((m) => m.inputs.authorization !== 'AWS_IAM');
    expect(open.every((m) => m.inputs.authorization === 'NONE' && m.inputs.httpMethod === 'GET')).toBe(true);
    expect(open).toHaveLength(3);
    expect(ofType('aws:apigatewayv2/route:Route').map((r) => [r.inputs.routeKey, r.inputs.authorizationType])).toEqual([
      ['POST /slack/interactions', 'NONE'],
    ]);
    expect(slackUrl).toBe('https://abc123.execute-api.eu-west-1.amazonaws.com/slack/interactions');
    expect(Object.keys(secrets as object).sort()).toEqual([
      'slack-bot-token',
      'slack-signing-secret',
      'slack-users',
      'webhooks',
    ]);
    // A whole hub program: seconds on a loaded machine, so more than the default 5 s.
  }, 30_000);

  it('tells the api where the CloudTrail table is, so timelines include AWS calls', () => {
    const env = (
      one('aws:lambda/function:Function', 'broker-api').inputs.environment as { variables: Record<string, string> }
    ).variables;
    expect(env[ENV.athenaWorkgroup]).toBe('timebox-prod');
    expect(env[ENV.athenaDatabase]).toBe('timebox_prod_audit');
    expect(env[ENV.auditRegions]?.split(',')).toContain('eu-west-1');
    expect(one('aws:glue/catalogDatabase:CatalogDatabase', 'audit-database').inputs.name).toBe('timebox_prod_audit');
    expect(one('aws:athena/workgroup:Workgroup', 'audit-workgroup').inputs.name).toBe('timebox-prod');
  });

  it('lets the api read the trail through Athena, in its workgroup only', () => {
    const doc = docOf(one('aws:iam/rolePolicy:RolePolicy', 'api-audit-query').inputs.policy);
    expect(doc.Statement.find((s) => s.Sid === 'RunTimelineQueries')?.Resource).toBe(
      `arn:aws:athena:eu-west-1:${ACCOUNT}:workgroup/timebox-prod`,
    );
    expect(JSON.stringify(doc)).not.toContain('"*"');
  });

  it('keeps target roles away from every broker and notification resource (permission boundary)', () => {
    const boundary = JSON.parse(
      String(
        resources.find((r) => r.type === 'aws:iam/policy:Policy' && String(r.inputs.name).endsWith('-boundary'))?.inputs
          .policy,
      ),
    ) as { Statement: { Sid: string; Resource: string | string[] }[] };
    // (This test's mocks make up ARNs only for the notification side; the others are checked in program.test.ts.)
    const denied = [boundary.Statement.find((s) => s.Sid === 'TimeboxProtectBroker')?.Resource ?? []]
      .flat()
      .filter((p): p is string => typeof p === 'string');
    const covered = (arn: string) => denied.some((p) => iamPatternMatches(p, arn));
    for (const arn of [
      `arn:aws:lambda:${R}:function:timebox-prod-notifier`,
      `arn:aws:lambda:${R}:function:timebox-prod-slack`,
      // Versions and aliases are ARNs of their own, and Invoke accepts them.
      `arn:aws:lambda:${R}:function:timebox-prod-api:$LATEST`,
      `arn:aws:lambda:${R}:function:timebox-prod-revoke:live`,
      `arn:aws:iam::${ACCOUNT}:role/timebox-prod-slack`,
      `arn:aws:secretsmanager:${R}:secret:timebox-prod/slack-signing-secret-AbCdEf`,
      `arn:aws:events:${R}:archive/timebox-prod-lifecycle`,
      `arn:aws:events:${R}:rule/broker-sweep-abc1234`,
      `arn:aws:events:${R}:rule/timebox-prod/any-rule-an-operator-adds`,
      `arn:aws:events:${R}:api-destination/timebox-prod-siem/abc`,
    ])
      expectWith(covered(arn), arn).toBe(true);
    // Someone else's function with a similar name is not swept in.
    expect(covered(`arn:aws:lambda:${R}:function:timebox-prodx`)).toBe(false);
  });

  it('gives the slack function the common environment of the broker functions', () => {
    const env = (
      one('aws:lambda/function:Function', 'notify-slack').inputs.environment as { variables: Record<string, string> }
    ).variables;
    expect(env[ENV.revokeFunctionArn]).toBe(`arn:aws:lambda:${R}:function:timebox-prod-revoke`);
    expect(env[ENV.eventBus]).toBe('timebox-prod');
    expect(env[ENV.policyFile]).toBe('./policy.json');
  });
});
