import { describe, expect, it } from '@jest/globals';
import { type MembersConfig, MembersConfigSchema, memberFor, parseMember } from '../../../adapters/gcp/members';

const config: MembersConfig = MembersConfigSchema.parse({
  explicit: {
    'Carol@corp.com': 'user:carol.admin@corp.com',
    'oncall-bot': 'serviceAccount:oncall@acme-ops.iam.gserviceaccount.com',
    'team-data': 'group:data-team@corp.com',
  },
  rules: [
    { suffix: '@contractors.corp.com', type: 'user', replaceWith: '@ext.corp.example' },
    { suffix: '@corp.com', type: 'user' },
    { suffix: '@acme-ci.iam.gserviceaccount.com', type: 'serviceAccount' },
  ],
});

describe('Function: memberFor', () => {
  it.each([
    ['alice@corp.com', 'user:alice@corp.com', 'suffix rule'],
    ['Alice@Corp.com', 'user:alice@corp.com', 'ids compare lower case'],
    ['carol@corp.com', 'user:carol.admin@corp.com', 'explicit entry wins over the rule'],
    ['CAROL@corp.com', 'user:carol.admin@corp.com', 'explicit keys are normalised'],
    ['oncall-bot', 'serviceAccount:oncall@acme-ops.iam.gserviceaccount.com', 'explicit service account'],
    ['team-data', 'group:data-team@corp.com', 'group only through an explicit entry'],
    ['zed@contractors.corp.com', 'user:zed@ext.corp.example', 'first matching rule, with its replacement'],
    [
      'deploy@acme-ci.iam.gserviceaccount.com',
      'serviceAccount:deploy@acme-ci.iam.gserviceaccount.com',
      'service account rule',
    ],
  ])('%s -> %s (%s)', (id, member) => {
    expect(memberFor(id, config)).toBe(member);
  });

  it.each([
    ['mallory@elsewhere.io', 'no explicit entry and no suffix rule matches'],
    ['@corp.com', 'no explicit entry and no suffix rule matches'],
    ['bob', 'no explicit entry and no suffix rule matches'],
    ['has space@corp.com', 'not a valid principal id'],
    ['', 'not a valid principal id'],
    ['a..b@corp.com', 'not a valid user email'],
    // Inherited object properties are not entries.
    ['constructor', 'no explicit entry and no suffix rule matches'],
    ['__proto__', 'no explicit entry and no suffix rule matches'],
    ['tostring', 'no explicit entry and no suffix rule matches'],
  ])('refuses %j with GCP.MEMBER_UNMAPPED (%s)', (id, why) => {
    let err: unknown;
    try {
      memberFor(id, config);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'GCP.MEMBER_UNMAPPED', kind: 'invalid' });
    expect((err as Error).message).toContain(why);
  });

  it('maps nothing with an empty configuration', () => {
    expect(() => memberFor('alice@corp.com', MembersConfigSchema.parse({}))).toThrow(
      expect.objectContaining({ code: 'GCP.MEMBER_UNMAPPED' }),
    );
  });
});

describe('Schema: MembersConfigSchema', () => {
  it.each([
    [{ explicit: { alice: 'allUsers' } }, 'not a single-identity member'],
    [{ explicit: { alice: 'allAuthenticatedUsers' } }, 'not a single-identity member'],
    [{ explicit: { alice: 'domain:corp.com' } }, 'not a single-identity member'],
    [{ explicit: { alice: 'principalSet://iam.googleapis.com/x' } }, 'not a single-identity member'],
    [{ explicit: { alice: 'serviceAccount:bob@corp.com' } }, 'not a single-identity member'],
    [{ explicit: { alice: 'user:not-an-email' } }, 'not a single-identity member'],
    [{ rules: [{ suffix: '@corp.com', type: 'group' }] }, 'Invalid option'],
    [{ rules: [{ suffix: 'corp.com' }] }, 'email domain suffix'],
    [{ rules: [{ suffix: '@corp.com', replaceWith: 'corp.example' }] }, 'email domain suffix'],
    [{ unknown: true }, 'Unrecognized key'],
  ])('refuses %j', (input, message) => {
    const r = MembersConfigSchema.safeParse(input);
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.message).join('\n')).toContain(message);
  });

  it('defaults rules to user members', () => {
    expect(MembersConfigSchema.parse({ rules: [{ suffix: '@Corp.com' }] }).rules).toEqual([
      { suffix: '@corp.com', type: 'user' },
    ]);
  });
});

describe('Function: parseMember', () => {
  it('accepts the three single-identity types and lower-cases the email', () => {
    expect(parseMember('user:Alice@Corp.com')).toEqual({ type: 'user', email: 'alice@corp.com' });
    expect(parseMember('group:g@corp.com')).toEqual({ type: 'group', email: 'g@corp.com' });
    expect(parseMember('serviceAccount:x@p-123456.iam.gserviceaccount.com')).toEqual({
      type: 'serviceAccount',
      email: 'x@p-123456.iam.gserviceaccount.com',
    });
  });

  it('refuses everything else', () => {
    for (const m of ['user:', 'user:@corp.com', 'deleted:user:a@b.com?uid=1', 'USER:a@b.com', 'user:a@b', 'a@b.com'])
      expect(parseMember(m)).toBeNull();
  });
});
