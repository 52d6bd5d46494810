import type { Principal } from '../principal';
import type { VerifyResult } from './chain';
import type { GrantEvent } from './events';
import type { GrantServiceDeps } from './ledger';
import type { RequestInput, RequestOutcome } from './lifecycle';
import { canRead, getGrant, grantHistory, isAuditor, verifyGrant } from './reads';
import type { Grant } from './state';
import { GrantSweeper, type SweepReport } from './sweep';

export type { GrantServiceDeps, RequestInput, RequestOutcome, SweepReport };

/**
 * The grant lifecycle as one application service over the ports. Every state change is one event appended with
 * an expected sequence number; the projection and the bus follow the event and may lag (the sweeper repairs them),
 * never lead. Side effects on clouds happen after the event that records them, so nothing happens off the record.
 *
 * Built in layers, one concern each, every layer using only those below it: ./ledger.ts (the write path shared by
 * all), ./provisioning.ts (putting cloud-side access in place and taking it away), ./lifecycle.ts (requests,
 * decisions, time-driven transitions, credentials), ./sweep.ts (the safety net); reads and who may make them are
 * ./reads.ts.
 */
export class GrantService extends GrantSweeper {
  /** The grant from its event stream (strongly consistent), if `who` may see it. */
  get(id: string, who: Principal): Promise<Grant> {
    return getGrant(this.d, id, who);
  }

  /** The events of one grant, if `who` may see it. */
  history(id: string, who: Principal): Promise<GrantEvent[]> {
    return grantHistory(this.d, id, who);
  }

  /** Verifies one grant's chain against the head its projection recorded. */
  verify(id: string, who: Principal): Promise<VerifyResult> {
    return verifyGrant(this.d, id, who);
  }

  /** Requester, eligible approvers, admins and auditors may read a grant. */
  canRead(g: Grant, who: Principal): boolean {
    return canRead(this.d.policy(), g, who);
  }

  /** Admins and auditors, who may read every grant. */
  isAuditor(who: Principal): boolean {
    return isAuditor(this.d.policy(), who);
  }
}
