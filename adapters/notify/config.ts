import { ValidationError } from '../../core/errors';
import type { EventType } from '../../core/grant/events';
import { isValidPrincipalId, normalizePrincipalId } from '../../core/principal';
import * as z from '../zod';
import { DETAIL_TYPES } from './detail';
import { httpsUrl } from './http';

/**
 * What the notifier and the Slack endpoint are configured with, as the operator writes it (a Secrets Manager
 * secret on AWS, environment variables or a file locally). Parsed with zod/mini (the Lambda bundles carry no
 * classic zod); every problem is reported with where it is, never the value (they are secrets).
 */

/** Slack user ids (`U...`, or `W...` on Enterprise Grid). */
const SLACK_USER_ID = /^[UW][A-Z0-9]{2,20}$/;

const Principal = z
  .string()
  .check(z.refine((s) => isValidPrincipalId(s), { error: 'must be a principal id (printable ASCII, no spaces)' }));
const MappedUser = z.union([
  Principal,
  z.strictObject({
    principal: Principal,
    groups: z.optional(z.array(z.string().check(z.regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/)))),
  }),
]);

/**
 * The operator-controlled mapping from Slack user id to principal: `{"U0123ABC": "carol@corp.com"}`, or with
 * groups the identity provider would assert, `{"U0123ABC": {"principal": "carol@corp.com", "groups": ["secops"]}}`.
 * Only people in it can approve from Slack; everyone else is refused and audited.
 */
export const SlackUsersSchema = z.record(
  z.string().check(z.regex(SLACK_USER_ID, { error: 'must be a Slack user id such as U0123ABCD' })),
  MappedUser,
);

export interface MappedPrincipal {
  id: string;
  groups: string[];
}

/** The Slack user mapping both ways: who clicked (Slack id -> principal) and whom to notify (principal -> Slack id). */
export class UserDirectory {
  private readonly bySlack = new Map<string, MappedPrincipal>();
  private readonly byPrincipal = new Map<string, string>();

  constructor(mapping: z.output<typeof SlackUsersSchema> = {}) {
    for (const [slackId, v] of Object.entries(mapping)) {
      const p = typeof v === 'string' ? { id: v, groups: [] } : { id: v.principal, groups: v.groups ?? [] };
      const id = normalizePrincipalId(p.id);
      this.bySlack.set(slackId, { id, groups: p.groups });
      // With two Slack accounts for one principal, the first listed is the one notified.
      if (!this.byPrincipal.has(id)) this.byPrincipal.set(id, slackId);
    }
  }

  principalOf(slackUserId: string): MappedPrincipal | undefined {
    return this.bySlack.get(slackUserId);
  }

  slackIdOf(principalId: string): string | undefined {
    return this.byPrincipal.get(normalizePrincipalId(principalId));
  }

  get size(): number {
    return this.bySlack.size;
  }
}

const DETAIL_TYPE_NAMES = Object.values(DETAIL_TYPES);
const EVENT_TYPES = Object.keys(DETAIL_TYPES) as EventType[];

/**
 * A webhook the notifier signs (HMAC-SHA256, header Timebox-Signature) and posts itself. The secret is at least
 * 32 characters: it is the only thing a receiver can tell Timebox from anyone else by.
 */
export const SignedWebhookSchema = z.strictObject({
  name: z.string().check(z.regex(/^[a-z0-9][a-z0-9-]{0,63}$/, { error: 'must be 1-64 of a-z, 0-9 and -' })),
  url: z
    .string()
    .check(z.refine((u) => safeUrl(u), { error: 'must be an https URL without credentials (http only to loopback)' })),
  secret: z.string().check(z.minLength(32, { error: 'must be at least 32 characters' })),
  /** Event types to send (`approved`, ...) or detail types (`Timebox Grant Approved`); all when absent. */
  events: z.optional(
    z.array(
      z.string().check(
        z.refine((e) => (EVENT_TYPES as string[]).includes(e) || DETAIL_TYPE_NAMES.includes(e), {
          error: `must be an event type (${EVENT_TYPES.join(', ')}) or its detail type`,
        }),
      ),
    ),
  ),
});
export const SignedWebhooksSchema = z.array(SignedWebhookSchema);
export type SignedWebhook = z.output<typeof SignedWebhookSchema>;

function safeUrl(u: string): boolean {
  try {
    // Plain http only to this machine: a receiver under development next to a local broker.
    httpsUrl(u, 'url', true);
    return true;
  } catch {
    return false;
  }
}

/** True when a webhook asked for this event type (or for everything). */
export function wantsEvent(w: Pick<SignedWebhook, 'events'>, type: EventType): boolean {
  return !w.events || w.events.includes(type) || w.events.includes(DETAIL_TYPES[type]);
}

/** Parses a JSON secret with a schema; the error names the secret and the paths, never the value. */
export function parseSecretJson<S extends z.ZodMiniType>(what: string, text: string, schema: S): z.output<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ValidationError('NOTIFY.CONFIG_INVALID', `${what} is not JSON`);
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const where = r.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
    throw new ValidationError('NOTIFY.CONFIG_INVALID', `${what} is invalid: ${where.join('; ')}`);
  }
  return r.data as z.output<S>;
}
