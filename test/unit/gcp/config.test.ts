import { describe, expect, it } from '@jest/globals';
import { GcpConfigJsonSchema, parseGcpConfig } from '../../../adapters/gcp/config';

const AUDIENCE =
  '//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/timebox/providers/aws-broker';
const SA = 'timebox-broker@acme-identity.iam.gserviceaccount.com';

describe('Function: parseGcpConfig', () => {
  it('parses what the stack writes and fills defaults', () => {
    const c = parseGcpConfig(
      JSON.stringify({
        audience: AUDIENCE,
        serviceAccount: SA,
        pool: 'projects/123456789012/locations/global/workloadIdentityPools/timebox',
        provider: 'projects/123456789012/locations/global/workloadIdentityPools/timebox/providers/aws-broker',
        projects: ['acme-analytics'],
        members: { rules: [{ suffix: '@corp.com' }] },
      }),
    );
    expect(c).toMatchObject({
      audience: AUDIENCE,
      serviceAccount: SA,
      projects: ['acme-analytics'],
      members: { explicit: {}, rules: [{ suffix: '@corp.com', type: 'user' }] },
      tokenLifetimeSeconds: 3600,
      retry: { maxAttempts: 6, baseDelayMs: 100, maxDelayMs: 3000 },
      warnAtConditionalBindings: 90,
    });
  });

  it('names every bad field in one error', () => {
    expect(() =>
      parseGcpConfig(
        JSON.stringify({
          audience: '//iam.googleapis.com/projects/p/x',
          serviceAccount: '123-compute@developer.gserviceaccount.com',
          projects: ['Bad_Project'],
          extra: 1,
        }),
      ),
    ).toThrow(
      /TIMEBOX_GCP\.audience: must be[\s\S]*TIMEBOX_GCP\.serviceAccount: must be a user-managed[\s\S]*TIMEBOX_GCP\.projects\.0: must be a GCP project id/,
    );
  });

  it('refuses text that is not JSON', () => {
    expect(() => parseGcpConfig('{audience:')).toThrow('TIMEBOX_GCP: TIMEBOX_GCP is not valid JSON');
  });

  it('refuses unknown keys (a typo would otherwise be ignored)', () => {
    const r = GcpConfigJsonSchema.safeParse(JSON.stringify({ audience: AUDIENCE, serviceAccount: SA, member: {} }));
    expect(r.success).toBe(false);
  });

  it('bounds the token lifetime to what GCP issues without an org policy change', () => {
    expect(() =>
      parseGcpConfig(JSON.stringify({ audience: AUDIENCE, serviceAccount: SA, tokenLifetimeSeconds: 43200 })),
    ).toThrow('tokenLifetimeSeconds');
  });
});
