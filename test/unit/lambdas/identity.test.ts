import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  awsAuthenticator,
  type CallerIdentity,
  type IdentityConfig,
  IdentityConfigJsonSchema,
  principalFromCaller,
  rolePatternMatches,
  trustedPrincipalArns,
} from '../../../lambdas/api/identity';

const config: IdentityConfig = {
  accounts: ['111122223333', '444455556666'],
  roles: [
    { pattern: 'AWSReservedSSO_*', mfa: true, groupsFromPermissionSet: true },
    // A SAML role whose trust policy pins the session name to the SAML subject.
    { roleArn: 'arn:aws:iam::444455556666:role/federated/BreakGlass', sessionNameFrom: 'saml:sub', mfa: false },
  ],
  iamUsers: false,
};

function callerDummy(partial: Partial<CallerIdentity> = {}): CallerIdentity {
  return {
    userArn: 'arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Developers_0123456789abcdef/Alice@Corp.com',
    accountId: '111122223333',
    sourceIp: '10.1.2.3',
    userAgent: 'aws-cli/2.17',
    ...partial,
  };
}

function refusal(identity: unknown, cfg: IdentityConfig = config): { code: string; kind: string; message: string } {
  try {
    principalFromCaller(cfg, identity);
  } catch (e) {
    return e as { code: string; kind: string; message: string };
  }
  throw new Error('expected a refusal');
}

describe('Function: principalFromCaller', () => {
  it('maps an Identity Center session to its user name, with MFA and the permission set as a group', () => {
    // Act
    const p = principalFromCaller(config, callerDummy());
    // Assess
    expect(p).toEqual({
      id: 'alice@corp.com',
      groups: ['sso:Developers'],
      mfa: true,
      sourceIp: '10.1.2.3',
      userAgent: 'aws-cli/2.17',
      attributes: {
        'aws:account': '111122223333',
        'aws:role': 'AWSReservedSSO_Developers_0123456789abcdef',
        'aws:permissionSet': 'Developers',
      },
    });
  });

  it('keeps underscores inside a permission set name', () => {
    const p = principalFromCaller(
      config,
      callerDummy({
        userArn: 'arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Read_Only_Prod_fedcba9876543210/bob',
      }),
    );
    expect(p.groups).toEqual(['sso:Read_Only_Prod']);
  });

  it('asserts no group when the role rule does not ask for it, and takes MFA from the rule', () => {
    const p = principalFromCaller(
      config,
      callerDummy({
        userArn: 'arn:aws:sts::444455556666:assumed-role/BreakGlass/carol@corp.com',
        accountId: '444455556666',
      }),
    );
    expect(p).toMatchObject({ id: 'carol@corp.com', groups: [], mfa: false });
  });

  it('works in other partitions', () => {
    const p = principalFromCaller(
      config,
      callerDummy({
        userArn: 'arn:aws-us-gov:sts::111122223333:assumed-role/AWSReservedSSO_Developers_0123456789abcdef/dan',
      }),
    );
    expect(p.id).toBe('dan');
  });

  it('admits a roleArn rule only for that role: same name in another account or partition is refused', () => {
    const other = refusal(callerDummy({ userArn: 'arn:aws:sts::111122223333:assumed-role/BreakGlass/carol@corp.com' }));
    expect(other).toMatchObject({ code: 'IDENTITY.UNMAPPED', kind: 'forbidden' });
    const gov = refusal(
      callerDummy({
        userArn: 'arn:aws-us-gov:sts::444455556666:assumed-role/BreakGlass/carol@corp.com',
        accountId: '444455556666',
      }),
    );
    expect(gov).toMatchObject({ code: 'IDENTITY.UNMAPPED', kind: 'forbidden' });
  });

  it('admits under a pattern only names Identity Center gives its roles (AWSReservedSSO_<set>_<16 hex>)', () => {
    const e = refusal(callerDummy({ userArn: 'arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin/alice' }));
    expect(e).toMatchObject({ code: 'IDENTITY.UNMAPPED', kind: 'forbidden' });
  });

  it('refuses an assumed role that matches no pattern: its session name is whatever the caller chose', () => {
    const e = refusal(callerDummy({ userArn: 'arn:aws:sts::111122223333:assumed-role/ci-deployer/alice@corp.com' }));
    expect(e).toMatchObject({ code: 'IDENTITY.UNMAPPED', kind: 'forbidden' });
    expect(e.message).toContain('ci-deployer');
  });

  it('refuses service roles', () => {
    const e = refusal(
      callerDummy({ userArn: 'arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForSupport/support-session' }),
    );
    expect(e).toMatchObject({ code: 'IDENTITY.UNMAPPED', kind: 'forbidden' });
  });

  it('refuses an ARN carrying a role path, which STS never produces', () => {
    const e = refusal(
      callerDummy({
        userArn:
          'arn:aws:sts::111122223333:assumed-role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Developers_0123456789abcdef/alice',
      }),
    );
    expect(e).toMatchObject({ code: 'IDENTITY.UNMAPPED', kind: 'unauthenticated' });
  });

  it('refuses callers from accounts not listed, and an ARN that disagrees with the account of the request', () => {
    const other = refusal(
      callerDummy({
        userArn: 'arn:aws:sts::999999999999:assumed-role/AWSReservedSSO_Developers_0123456789abcdef/alice',
        accountId: '999999999999',
      }),
    );
    expect(other).toMatchObject({ code: 'IDENTITY.UNMAPPED', kind: 'forbidden' });
    expect(other.message).toContain('999999999999');
    const mismatch = refusal(callerDummy({ accountId: '444455556666' }));
    expect(mismatch).toMatchObject({ code: 'IDENTITY.UNMAPPED', kind: 'unauthenticated' });
  });

  it('refuses IAM users unless enabled, then maps them by user name without MFA, path or not', () => {
    const user = callerDummy({ userArn: 'arn:aws:iam::111122223333:user/ops/oncall/Erin' });
    expect(refusal(user)).toMatchObject({ code: 'IDENTITY.UNMAPPED', kind: 'forbidden' });
    const p = principalFromCaller({ ...config, iamUsers: true }, user);
    expect(p).toMatchObject({ id: 'erin', mfa: false, groups: [], attributes: { 'aws:user': 'Erin' } });
    const plain = principalFromCaller(
      { ...config, iamUsers: true },
      callerDummy({ userArn: 'arn:aws:iam::111122223333:user/frank' }),
    );
    expect(plain.id).toBe('frank');
  });

  it('refuses the root user and federated users even with IAM users enabled', () => {
    const open = { ...config, iamUsers: true };
    const root = refusal(callerDummy({ userArn: 'arn:aws:iam::111122223333:root' }), open);
    expect(root).toMatchObject({ code: 'IDENTITY.UNMAPPED', kind: 'forbidden' });
    expect(root.message).toContain('root');
    const fed = refusal(callerDummy({ userArn: 'arn:aws:sts::111122223333:federated-user/alice' }), open);
    expect(fed).toMatchObject({ code: 'IDENTITY.UNMAPPED', kind: 'forbidden' });
    expect(fed.message).toContain('federated');
  });

  it.each([
    ['no identity at all', undefined],
    ['a null ARN (the route is not IAM-authorized)', { userArn: null, accountId: null, sourceIp: '1.2.3.4' }],
    ['an empty ARN', { userArn: '' }],
    ['not an ARN', { userArn: 'alice@corp.com' }],
    ['another service', { userArn: 'arn:aws:s3:::bucket' }],
    ['a short account', { userArn: 'arn:aws:sts::1111:assumed-role/BreakGlass/alice' }],
    ['a missing session name', { userArn: 'arn:aws:sts::111122223333:assumed-role/BreakGlass' }],
    ['a one-character session name', { userArn: 'arn:aws:sts::111122223333:assumed-role/BreakGlass/a' }],
    ['a session name with a space', { userArn: 'arn:aws:sts::111122223333:assumed-role/BreakGlass/al ice' }],
    ['a wrongly typed field', { userArn: 42 }],
  ])('answers 401 IDENTITY.UNMAPPED for %s', (_what, identity) => {
    expect(refusal(identity)).toMatchObject({ code: 'IDENTITY.UNMAPPED', kind: 'unauthenticated' });
  });

  it('refuses the unknown identity kinds of the iam service', () => {
    const e = refusal(
      callerDummy({ userArn: 'arn:aws:iam::111122223333:role/AWSReservedSSO_Developers_0123456789abcdef' }),
    );
    expect(e).toMatchObject({ code: 'IDENTITY.UNMAPPED', kind: 'forbidden' });
  });
});

describe('Function: rolePatternMatches', () => {
  it('matches * as any run of characters and everything else literally', () => {
    expect(rolePatternMatches('AWSReservedSSO_*', 'AWSReservedSSO_Dev_0123456789abcdef')).toBe(true);
    expect(rolePatternMatches('AWSReservedSSO_*', 'XAWSReservedSSO_Dev')).toBe(false);
    expect(rolePatternMatches('AWSReservedSSO_Admin_*', 'AWSReservedSSO_Developers_0123456789abcdef')).toBe(false);
    expect(rolePatternMatches('a.b', 'axb')).toBe(false);
    expect(rolePatternMatches('BreakGlass', 'breakglass')).toBe(false);
    expect(rolePatternMatches('*-oncall-*', 'team-oncall-1')).toBe(true);
  });
});

const ROLE = 'arn:aws:iam::111122223333:role/federated/Engineers';
const rolesJson = (roles: unknown[]) => JSON.stringify({ accounts: ['111122223333'], roles });

describe('Schema: TIMEBOX_IDENTITY', () => {
  it('accepts a roleArn rule with what its trust policy pins the session name to', () => {
    const r = IdentityConfigJsonSchema.safeParse(
      rolesJson([{ roleArn: ROLE, sessionNameFrom: 'aws:username', mfa: false }]),
    );
    expect(r.success).toBe(true);
  });

  it('parses the JSON with defaults', () => {
    const r = IdentityConfigJsonSchema.safeParse(
      '{"accounts":["111122223333"],"roles":[{"pattern":"AWSReservedSSO_*","mfa":true}]}',
    );
    expect(r.success && r.data).toEqual({
      accounts: ['111122223333'],
      roles: [{ pattern: 'AWSReservedSSO_*', mfa: true }],
      iamUsers: false,
    });
  });

  it.each([
    ['not JSON', '{accounts:'],
    ['no accounts', '{"accounts":[]}'],
    ['a bad account', '{"accounts":["12345"]}'],
    ['a pattern with a slash', '{"accounts":["111122223333"],"roles":[{"pattern":"a/b","mfa":false}]}'],
    ['a role without mfa', '{"accounts":["111122223333"],"roles":[{"pattern":"AWSReservedSSO_*"}]}'],
    ['a pattern for roles Identity Center does not make', rolesJson([{ pattern: 'BreakGlass', mfa: false }])],
    ['a rule with neither pattern nor roleArn', rolesJson([{ mfa: false }])],
    [
      'a rule with both',
      rolesJson([{ pattern: 'AWSReservedSSO_*', roleArn: ROLE, sessionNameFrom: 'saml:sub', mfa: false }]),
    ],
    ['a roleArn without sessionNameFrom', rolesJson([{ roleArn: ROLE, mfa: false }])],
    ['a sessionNameFrom that pins nothing', rolesJson([{ roleArn: ROLE, sessionNameFrom: 'aws:userid', mfa: false }])],
    [
      'sessionNameFrom on a pattern',
      rolesJson([{ pattern: 'AWSReservedSSO_*', sessionNameFrom: 'saml:sub', mfa: true }]),
    ],
    [
      'a roleArn with a wildcard path',
      rolesJson([{ roleArn: 'arn:aws:iam::111122223333:role/*/X', sessionNameFrom: 'saml:sub', mfa: false }]),
    ],
    [
      'a roleArn with a policy variable',
      rolesJson([
        // biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, literally
        { roleArn: 'arn:aws:iam::111122223333:role/${aws:username}/X', sessionNameFrom: 'saml:sub', mfa: false },
      ]),
    ],
    [
      'a roleArn that is a user',
      rolesJson([{ roleArn: 'arn:aws:iam::111122223333:user/X', sessionNameFrom: 'saml:sub', mfa: false }]),
    ],
    [
      'a roleArn in an account not listed',
      rolesJson([{ roleArn: 'arn:aws:iam::999999999999:role/X', sessionNameFrom: 'saml:sub', mfa: false }]),
    ],
    ['an unknown key', '{"accounts":["111122223333"],"iamUser":true}'],
  ])('refuses %s', (_what, text) => {
    expect(IdentityConfigJsonSchema.safeParse(text).success).toBe(false);
  });
});

describe('Function: trustedPrincipalArns', () => {
  it('admits Identity Center roles only under their reserved path, roleArn rules exactly, IAM users by account', () => {
    expect(trustedPrincipalArns({ ...config, iamUsers: true }, 'aws')).toEqual([
      'arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_*',
      'arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_*',
      'arn:aws:iam::111122223333:user/*',
      'arn:aws:iam::444455556666:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_*',
      'arn:aws:iam::444455556666:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_*',
      'arn:aws:iam::444455556666:role/federated/BreakGlass',
      'arn:aws:iam::444455556666:user/*',
    ]);
  });

  it('refuses a roleArn of another partition than the stack’s', () => {
    expect(() => trustedPrincipalArns(config, 'aws-us-gov')).toThrow(
      expect.objectContaining({ code: 'IDENTITY.PARTITION' }),
    );
  });

  /** IAM's StringLike: `*` any run of characters (slashes included), `?` any one character. */
  const like = (pattern: string, value: string) =>
    new RegExp(
      `^${pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
    ).test(value);
  const segment = fc.stringMatching(/^[A-Za-z0-9+=,.@_-]{1,12}$/);

  it('never admits a role outside the Identity Center path, whatever its name or path (property)', () => {
    const patterns = trustedPrincipalArns({ ...config, roles: [{ pattern: 'AWSReservedSSO_*', mfa: true }] }, 'aws');
    fc.assert(
      fc.property(
        fc.array(segment, { maxLength: 3 }),
        segment,
        fc.constantFrom(...config.accounts),
        (path, name, account) => {
          const rolePath = path.length ? `/${path.join('/')}/` : '/';
          fc.pre(!rolePath.startsWith('/aws-reserved/sso.amazonaws.com/'));
          const arn = `arn:aws:iam::${account}:role${rolePath}AWSReservedSSO_${name}_0123456789abcdef`;
          return !patterns.some((p) => like(p, arn));
        },
      ),
    );
    fc.assert(
      fc.property(fc.option(fc.constantFrom('eu-west-1', 'us-east-1')), segment, (region, name) => {
        const arn = `arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/${region ? `${region}/` : ''}AWSReservedSSO_${name}_0123456789abcdef`;
        return patterns.some((p) => like(p, arn));
      }),
    );
  });
});

describe('Function: awsAuthenticator', () => {
  it('reads the verified caller from the request, never its headers', async () => {
    const authenticate = awsAuthenticator(config);
    const req = {
      method: 'GET',
      path: '/v1/requests',
      query: {},
      headers: { 'x-amz-user-arn': 'arn:aws:sts::111122223333:assumed-role/BreakGlass/mallory' },
      body: undefined,
      sourceIp: '10.1.2.3',
      userAgent: 'x',
      requestId: 'r1',
    };
    await expect(authenticate(req)).rejects.toMatchObject({ code: 'IDENTITY.UNMAPPED', kind: 'unauthenticated' });
    const p = await authenticate({ ...req, auth: callerDummy() });
    expect(p.id).toBe('alice@corp.com');
  });
});
