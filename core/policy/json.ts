import { sha256Hex } from '../canonical';
import type { Policy } from './types';

/**
 * The compiled form of a validated policy that deployments ship instead of access.yaml: the Pulumi program
 * validates the YAML once (every problem listed at preview) and packages this JSON, so functions neither carry
 * a YAML parser nor re-validate at every cold start. `sourceSha256` ties it to the exact file that was reviewed.
 */
export interface PolicyBundle {
  format: 'timebox-policy';
  version: 1;
  sourceSha256: string;
  policy: Policy;
  /**
   * The deployment's GCP settings and member mapping (adapters/gcp/config.ts validates them where they are read).
   * They grow with the organisation, and a Lambda environment holds at most 4 KB, so they travel here.
   */
  gcp?: unknown;
}

/** The policy bundle of a validated policy and the access.yaml text it was loaded from. */
export function policyBundle(policy: Policy, sourceText: string, extra: { gcp?: unknown } = {}): PolicyBundle {
  return {
    format: 'timebox-policy',
    version: 1,
    sourceSha256: sha256Hex(sourceText),
    policy,
    ...(extra.gcp === undefined ? {} : { gcp: extra.gcp }),
  };
}

/**
 * Reads a policy bundle. Its content was validated when it was built; this checks that it is one, of this
 * version, with the top-level collections a decision needs, and refuses anything else rather than guessing.
 */
export function readPolicyBundle(text: string): PolicyBundle {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`the policy bundle is not JSON: ${(e as Error).message}`);
  }
  const b = isObject(parsed) ? (parsed as Partial<PolicyBundle>) : undefined;
  if (b?.format !== 'timebox-policy' || b.version !== 1 || !/^[0-9a-f]{64}$/.test(String(b.sourceSha256)))
    throw new Error('not a Timebox policy bundle (format timebox-policy, version 1)');
  const p = isObject(b.policy) ? (b.policy as Partial<Policy>) : undefined;
  if (
    p?.version !== 1 ||
    !isObject(p.settings) ||
    typeof p.settings.maxDuration !== 'number' ||
    !isObject(p.groups) ||
    !isObject(p.targets) ||
    !Array.isArray(p.rules) ||
    p.rules.length === 0
  )
    throw new Error('the policy bundle does not hold a validated policy');
  return b as PolicyBundle;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
