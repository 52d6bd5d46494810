import { beforeAll, describe, expect, it } from '@jest/globals';
import { timebox } from '../../stacks/program';
import {
  ACCOUNT,
  configDummy,
  docOf,
  fakeBundles,
  installMocks,
  type MockWorld,
  POLICY_YAML,
  projectWithPolicy,
  resolveAll,
  SPOKE_ACCOUNT,
} from './helpers/pulumi-mocks';

/**
 * A SAML role as identity source (timebox:identity roleArn rule): the program reads the role's trust policy before
 * declaring anything and refuses one that lets callers choose the session name; the API admits that role by ARN.
 */

let world: MockWorld;
const dist = fakeBundles(['api', 'revoke', 'sweeper']);
const project = projectWithPolicy(POLICY_YAML);
const ROLE = `arn:aws:iam::${ACCOUNT}:role/federated/Engineers`;
// biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, literally
const SUB = '${saml:sub}';
const saml = (condition: Record<string, unknown>) => ({
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Principal: { Federated: `arn:aws:iam::${ACCOUNT}:saml-provider/Corp` },
      Action: 'sts:AssumeRoleWithSAML',
      Condition: { StringEquals: { 'SAML:aud': 'https://signin.aws.amazon.com/saml', ...condition } },
    },
  ],
});
const config = () =>
  configDummy({
    spokeAccounts: JSON.stringify([SPOKE_ACCOUNT]),
    identity: JSON.stringify({
      accounts: [ACCOUNT],
      roles: [{ roleArn: ROLE, sessionNameFrom: 'saml:sub', mfa: false }],
    }),
  });

async function deploy(): Promise<void> {
  world.reset();
  await resolveAll(await timebox({ config: config(), projectDir: project, distDir: dist }));
  await world.settle();
}

beforeAll(async () => {
  world = await installMocks();
});

describe('Program: identity sources', () => {
  it('refuses a SAML role whose trust policy does not pin the session name, before declaring anything', async () => {
    world.trustPolicies.Engineers = saml({});
    world.reset();
    await expect(timebox({ config: config(), projectDir: project, distDir: dist })).rejects.toThrow(
      /Engineers: statement #1 lets its principals assume the role without/,
    );
    expect(world.resources).toEqual([]);
  });

  it('admits a SAML role that pins it, by its exact ARN in the API resource policy', async () => {
    world.trustPolicies.Engineers = saml({ 'sts:RoleSessionName': SUB });
    await deploy();
    expect(world.calls).toContain('aws:iam/getRole:getRole');
    const policy = docOf(world.one('aws:apigateway/restApiPolicy:RestApiPolicy', 'broker-api-policy').inputs.policy);
    expect(policy.Statement.find((s) => s.Sid === 'DenyUntrustedPrincipals')?.Condition).toEqual({
      Null: { 'aws:PrincipalArn': 'false' },
      StringNotLike: { 'aws:PrincipalArn': ROLE },
    });
  }, 30_000);
});
