import type { CloudActionSource } from '../adapters/notify/timeline';
import type { Clock } from '../core/clock';
import type { TimeboxError } from '../core/errors';
import type { GrantService } from '../core/grant/service';
import type { CompiledPolicy } from '../core/policy/compile';
import type { EventStore, Log, ProjectionStore, TokenSigner } from '../core/ports';
import type { Principal } from '../core/principal';
import { type ApiRequest, HttpError } from './http';

/** What the API is built from; each runtime (Lambda, the local broker) wires its own. */
export interface ApiDeps {
  service: GrantService;
  /** The only source of the principal; throws a 401/403 TimeboxError when the caller cannot be mapped. */
  authenticate: (req: ApiRequest) => Promise<Principal>;
  signer: TokenSigner;
  /** The broker's URL as services know it: `iss` of its tokens and of the signed revocation feed. */
  issuer: string;
  projections: ProjectionStore;
  events: EventStore;
  clock: Clock;
  log: Log;
  policy: () => CompiledPolicy;
  /** AWS calls made under a grant (CloudTrail through Athena); absent locally, where timelines are lifecycle only. */
  cloudActions?: CloudActionSource;
}

/** One request as a handler sees it: the caller, the route's `{id}` and a log scoped to the request. */
export interface Ctx {
  req: ApiRequest;
  headers: Map<string, string>;
  who: Principal;
  id: string;
  log: Log;
}

/** 404 for a grant the caller may not read, the same answer as for one that does not exist. */
export function notFound(id: string): TimeboxError {
  return new HttpError(404, 'not-found', 'GRANT.NOT_FOUND', `no grant ${id.slice(0, 64)}`);
}
