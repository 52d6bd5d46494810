import * as z from '../adapters/zod';
import type { Decision } from '../core/decide';
import type { Grant } from '../core/grant/state';
import { type IssuedCredential, PLAN_CREDENTIAL_KIND } from '../core/ports';

// How the API shows grants, decisions and credentials: internal fields left out, provider answers checked.

/** A grant as the API shows it: internal bookkeeping (idempotency hash, bus position) left out. */
export function grantView(g: Grant): Omit<Grant, 'requestHash' | 'publishedSeq'> {
  const { requestHash: _h, publishedSeq: _p, ...rest } = g;
  return rest;
}

/** The decision without the policy's target definition (the grant already carries its snapshot). */
export function decisionView(d: Decision) {
  return {
    decision: d.decision,
    rule: d.rule,
    reasons: d.reasons,
    scope: d.scope,
    startAt: d.startAt.toISOString(),
    expiresAt: d.expiresAt?.toISOString() ?? null,
    maxDuration: d.maxDuration,
    approval: d.approval,
    pendingUntil: d.pendingUntil?.toISOString() ?? null,
  };
}

// Built on first use, like the route schemas: only credential and console requests read them.
const StsCredentials = z.lazy(() =>
  z.union([
    z.object({ AccessKeyId: z.string(), SecretAccessKey: z.string(), SessionToken: z.string() }),
    z.pipe(
      z.object({ accessKeyId: z.string(), secretAccessKey: z.string(), sessionToken: z.string() }),
      z.transform((c: { accessKeyId: string; secretAccessKey: string; sessionToken: string }) => ({
        AccessKeyId: c.accessKeyId,
        SecretAccessKey: c.secretAccessKey,
        SessionToken: c.sessionToken,
      })),
    ),
  ]),
);
const TokenSecret = z.lazy(() =>
  z.union([
    z.string().check(z.minLength(1)),
    z.pipe(
      z.object({ token: z.string().check(z.minLength(1)) }),
      z.transform((t: { token: string }) => t.token),
    ),
  ]),
);
const UrlSecret = z.lazy(() =>
  z.pipe(
    z.union([
      z.string(),
      z.pipe(
        z.object({ url: z.string() }),
        z.transform((u: { url: string }) => u.url),
      ),
    ]),
    z.string().check(z.regex(/^https:\/\//, 'a console URL is https')),
  ),
);

/**
 * What each target kind hands the caller: the AWS CLI `credential_process` document (Version 1, with
 * Expiration so the CLI refreshes before it), a bearer token for gRPC, the binding details for GCP.
 */
/** A plan answers with what a deployment would apply (local mode has no cloud credentials to give). */
export function planView(c: IssuedCredential): unknown {
  if (typeof c.secret !== 'object' || c.secret === null) throw new Error('a plan provider returned no plan');
  return { ...c.secret, expiresAt: c.expiresAt.toISOString() };
}

export function credentialView(kind: Grant['target']['kind'], c: IssuedCredential): unknown {
  if (c.kind === PLAN_CREDENTIAL_KIND) return planView(c);
  const expiresAt = c.expiresAt.toISOString();
  if (kind === 'aws-role') {
    const r = StsCredentials.safeParse(c.secret);
    if (!r.success) throw new Error('the aws-role provider returned credentials of an unknown shape');
    return { Version: 1, ...r.data, Expiration: expiresAt };
  }
  if (kind === 'grpc') {
    const r = TokenSecret.safeParse(c.secret);
    if (!r.success) throw new Error('the grpc provider returned a token of an unknown shape');
    return { token: r.data, expiresAt };
  }
  return { binding: c.secret, expiresAt };
}

export function consoleUrl(secret: unknown): string {
  const r = UrlSecret.safeParse(secret);
  if (!r.success) throw new Error('the aws-role provider returned a console link of an unknown shape');
  return r.data;
}
