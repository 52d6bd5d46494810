import { describe, expect, it } from '@jest/globals';
import {
  iamTime,
  roleArn,
  SESSION_POLICY_MAX_CHARS,
  sessionPolicy,
  sessionPolicyJson,
} from '../../../core/builders/aws';
import { bindingTitle, gcpBindings } from '../../../core/builders/gcp';
import { grpcClaims } from '../../../core/builders/grpc';

const expiresAt = new Date('2026-11-24T10:30:00.500Z');

describe('Function: sessionPolicy', () => {
  it('allows only the scope, and only before expiry', () => {
    expect(
      sessionPolicy({ actions: ['s3:GetObject'], resources: ['arn:aws:s3:::l/*', 'arn:aws:s3:::l'] }, expiresAt),
    ).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'TimeboxGrant',
          Effect: 'Allow',
          Action: 's3:GetObject',
          Resource: ['arn:aws:s3:::l/*', 'arn:aws:s3:::l'],
          Condition: { DateLessThan: { 'aws:CurrentTime': '2026-11-24T10:30:00Z' } },
        },
      ],
    });
  });

  it('truncates to whole seconds, so access never outlives the grant by the milliseconds', () => {
    expect(iamTime(expiresAt)).toBe('2026-11-24T10:30:00Z');
  });

  it('fails clearly past the 2,048-character STS limit', () => {
    const resources = Array.from({ length: 80 }, (_, i) => `arn:aws:s3:::bucket-${i}/*`);
    expect(() => sessionPolicyJson({ actions: ['s3:GetObject'], resources }, expiresAt)).toThrow(
      expect.objectContaining({ code: 'SESSION_POLICY.TOO_LARGE' }),
    );
    const fits = sessionPolicyJson({ actions: ['s3:GetObject'], resources: resources.slice(0, 10) }, expiresAt);
    expect(fits.length).toBeLessThanOrEqual(SESSION_POLICY_MAX_CHARS);
    expect(JSON.parse(fits)).toEqual(
      sessionPolicy({ actions: ['s3:GetObject'], resources: resources.slice(0, 10) }, expiresAt),
    );
  });

  it('names target roles under the /timebox/ path', () => {
    expect(roleArn({ partition: 'aws', account: '111122223333', role: 'timebox-prod-logs' })).toBe(
      'arn:aws:iam::111122223333:role/timebox/timebox-prod-logs',
    );
  });
});

describe('Function: gcpBindings', () => {
  it('builds one conditional binding per role, titled by the grant', () => {
    const b = gcpBindings({
      grantId: 'tb-01',
      member: 'user:alice@corp.com',
      roles: ['roles/a', 'roles/b'],
      expiresAt,
      reason: 'INC-1',
    });
    expect(b).toHaveLength(2);
    expect(b[0]).toEqual({
      role: 'roles/a',
      members: ['user:alice@corp.com'],
      condition: {
        title: bindingTitle('tb-01'),
        description: 'Timebox grant tb-01: INC-1',
        expression: "request.time < timestamp('2026-11-24T10:30:00Z')",
      },
    });
  });
});

describe('Function: gcpBindings (description)', () => {
  it('cuts a long description at 256 characters, never inside a character', () => {
    // 243 characters of prefix and reason, then emoji (two UTF-16 units each) across the cut
    const reason = `${'x'.repeat(256 - 'Timebox grant tb-01: '.length - 3)}${'🔥'.repeat(10)}`;
    const [b] = gcpBindings({ grantId: 'tb-01', member: 'user:a@corp.com', roles: ['roles/a'], expiresAt, reason });
    const d = b?.condition.description as string;
    expect(Array.from(d)).toHaveLength(256);
    expect(d.endsWith('🔥🔥🔥')).toBe(true);
    // No lone surrogate: valid text for JSON and for the API.
    expect(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(d)).toBe(false);
  });
});

describe('Function: grpcClaims', () => {
  it('never outlives the grant nor the token lifetime', () => {
    const now = new Date('2026-11-24T10:00:00Z');
    const base = {
      issuer: 'https://tb',
      grantId: 'tb-1',
      principalId: 'alice',
      audience: 'svc',
      methods: ['/a.B/*'],
      now,
    };
    expect(grpcClaims({ ...base, expiresAt, ttlMs: 5 * 60_000 })).toEqual({
      iss: 'https://tb',
      sub: 'alice',
      aud: 'svc',
      jti: 'tb-1',
      scope: ['/a.B/*'],
      iat: 1795514400,
      nbf: 1795514400,
      exp: 1795514700,
    });
    expect(grpcClaims({ ...base, expiresAt, ttlMs: 24 * 3600_000 }).exp).toBe(Math.floor(expiresAt.getTime() / 1000));
  });
});
