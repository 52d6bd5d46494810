import type { Grant } from '../core/grant/state';
import type { AccessContext, AccessProvider, ActiveGrant, CredentialKind, TokenSigner } from '../core/ports';

/**
 * Code a function needs only for some requests, loaded on first use rather than at every cold start. Node reads,
 * parses and runs every module a handler imports before the first invocation (AWS Compute Blog, "Optimizing Node.js
 * dependencies in AWS Lambda"), so init time grows with code most invocations never reach: revoke and sweeper never
 * sign (KMS), revoke never assumes a role or writes IAM, the API needs STS only for credentials and console links
 * and IAM only for early revocation, and most grants never touch GCP. Only such code is deferred: deferring what
 * nearly every request uses (DynamoDB, Scheduler) would only move the same wait into the first request.
 *
 * The Lambda build emits ES modules with code splitting (scripts/build.ts), so each `import()` below becomes a chunk
 * next to index.mjs that shares every module it has in common with the entry, loaded once, not a second copy.
 */

/**
 * Memoises `load`; a failed load is forgotten so the next call tries again instead of failing the warm function
 * for good.
 */
export function once<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () => {
    loading ??= load().catch((e: unknown) => {
      loading = undefined;
      throw e;
    });
    return loading;
  };
}

/** A token signer whose implementation (and its SDK client) is loaded on first use. */
export function lazySigner(load: () => Promise<TokenSigner>): TokenSigner {
  const signer = once(load);
  return {
    sign: async (claims: Record<string, unknown>, opts?: { typ?: string }) => (await signer()).sign(claims, opts),
    jwks: async () => (await signer()).jwks(),
  };
}

/** An access provider whose implementation (and its dependencies) is loaded on first use. */
export function lazyProvider(kind: AccessProvider['kind'], load: () => Promise<AccessProvider>): AccessProvider {
  const provider = once(load);
  return {
    kind,
    provision: async (g: ActiveGrant, ctx: AccessContext) => (await provider()).provision(g, ctx),
    credentials: async (g: ActiveGrant, k: CredentialKind, ctx: AccessContext) =>
      (await provider()).credentials(g, k, ctx),
    revoke: async (g: Grant, why: 'revoked' | 'expired', ctx: AccessContext) => (await provider()).revoke(g, why, ctx),
    maintain: async (ctx: AccessContext) => (await provider()).maintain?.(ctx),
  };
}
