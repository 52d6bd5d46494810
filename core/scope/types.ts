import type { Reason } from '../reasons';

/** The scope a grant actually carries, after narrowing by rule and request. Never wider than its target. */
export type EffectiveScope =
  | { kind: 'aws-role'; actions: string[]; resources: string[] }
  | { kind: 'gcp-role'; roles: string[] }
  | { kind: 'grpc'; methods: string[] };

export type ScopeResult = { ok: true; scope: EffectiveScope } | { ok: false; reasons: Reason[] };
