import type { GcpConfig } from '../adapters/gcp/config';
import type { Grant } from '../core/grant/state';
import type { AccessContext, AccessProvider, ActiveGrant, CredentialKind, Log } from '../core/ports';

/**
 * The GCP provider, loaded on first use. Its dependencies (google-auth-library and friends, about 250 KB) would
 * otherwise sit in every function's bundle and cold start, though most grants never touch GCP. The Lambda build
 * emits the GCP adapter as a separate file next to index.js and resolves this import to it (scripts/build.ts).
 */
export function lazyGcpProvider(config: GcpConfig, deps: { log: Log }): AccessProvider {
  let loaded: Promise<AccessProvider> | undefined;
  const provider = () => {
    loaded ??= import('../adapters/gcp/provider.js').then((m) => m.createGcpProvider(config, deps));
    return loaded;
  };
  return {
    kind: 'gcp-role',
    provision: async (g: ActiveGrant, ctx: AccessContext) => (await provider()).provision(g, ctx),
    credentials: async (g: ActiveGrant, kind: CredentialKind, ctx: AccessContext) =>
      (await provider()).credentials(g, kind, ctx),
    revoke: async (g: Grant, why: 'revoked' | 'expired', ctx: AccessContext) => (await provider()).revoke(g, why, ctx),
    maintain: async (ctx: AccessContext) => (await provider()).maintain?.(ctx),
  };
}
