import * as z from '../zod';
import { MembersConfigSchema } from './members';

/**
 * What a Lambda needs to reach GCP keylessly and map principals to members. The GcpAccess stack component writes the
 * identity part (`audience`, `serviceAccount`, `pool`, `provider`, `projects`); the operator's `members` mapping rides
 * along. The stack packages it as `gcp` in the bundled policy.json (members and projects outgrow Lambda's 4 KB
 * environment); TIMEBOX_GCP, the same JSON in a variable, serves small setups and tests. Absent both: GCP targets are
 * unavailable (the service says so per grant).
 */

/** GCP project ids: 6-30 of a-z, 0-9 and `-`, starting with a letter, not ending with `-`. */
export const GCP_PROJECT_ID = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
/** Pool and provider ids: 4-32 of a-z, 0-9 and `-` (the `gcp-` prefix is reserved by Google). */
const WIF_ID = '[a-z0-9-]{4,32}';
const AUDIENCE = new RegExp(
  `^//iam\\.googleapis\\.com/projects/[0-9]{1,20}/locations/global/workloadIdentityPools/${WIF_ID}/providers/${WIF_ID}$`,
);
// User-managed service accounts: <6-30 chars>@<project>.iam.gserviceaccount.com.
const SERVICE_ACCOUNT = /^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com$/;

/**
 * Built on first use (z.lazy): only functions with TIMEBOX_GCP set parse it, and building the schema costs every
 * other cold start a few milliseconds for nothing.
 */
export const GcpConfigSchema = z.lazy(() =>
  z.strictObject({
    /** `//iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>`. */
    audience: z
      .string()
      .check(
        z.regex(
          AUDIENCE,
          'must be //iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>',
        ),
      ),
    /** The broker service account the federated AWS role impersonates. */
    serviceAccount: z
      .string()
      .check(
        z.regex(
          SERVICE_ACCOUNT,
          'must be a user-managed service account email (<id>@<project>.iam.gserviceaccount.com)',
        ),
      ),
    /** Pool and provider resource names, for logs and humans. */
    pool: z.optional(z.string().check(z.maxLength(300))),
    provider: z.optional(z.string().check(z.maxLength(300))),
    /** Projects the broker was granted on; a grant on any other project is refused before any call. */
    projects: z.optional(
      z.array(z.string().check(z.regex(GCP_PROJECT_ID, 'must be a GCP project id'))).check(z.maxLength(500)),
    ),
    members: z._default(MembersConfigSchema, { explicit: {}, rules: [] }),
    /** Lifetime of the impersonated access token (GCP allows up to 3600 s without an org policy change). */
    tokenLifetimeSeconds: z._default(z.number().check(z.int(), z.minimum(600), z.maximum(3600)), 3600),
    /** Etag conflict retries (read-modify-write of one project policy): bounded exponential backoff with full jitter. */
    retry: z._default(
      z.strictObject({
        maxAttempts: z._default(z.number().check(z.int(), z.minimum(1), z.maximum(10)), 6),
        baseDelayMs: z._default(z.number().check(z.int(), z.minimum(1), z.maximum(5_000)), 100),
        maxDelayMs: z._default(z.number().check(z.int(), z.minimum(1), z.maximum(30_000)), 3_000),
      }),
      { maxAttempts: 6, baseDelayMs: 100, maxDelayMs: 3_000 },
    ),
    /** Warn (log + audit) when a policy holds this many conditional bindings; GCP allows 100. */
    warnAtConditionalBindings: z._default(z.number().check(z.int(), z.minimum(1), z.maximum(100)), 90),
  }),
);

export type GcpConfig = z.output<typeof GcpConfigSchema>;

/** The TIMEBOX_GCP variable as it arrives: a JSON string. */
export const GcpConfigJsonSchema = z.jsonText(GcpConfigSchema, 'TIMEBOX_GCP is not valid JSON');

/** Parses TIMEBOX_GCP; throws one line per problem, naming the field. */
export function parseGcpConfig(json: string): GcpConfig {
  const r = GcpConfigJsonSchema.safeParse(json);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `TIMEBOX_GCP${i.path.length ? `.${i.path.join('.')}` : ''}: ${i.message}`);
    throw new Error(`invalid GCP configuration:\n${lines.join('\n')}`);
  }
  return r.data;
}

/** Parses the GCP settings carried in the policy bundle (its `gcp` field); throws one line per problem, naming the field. */
export function parseGcpSettings(value: unknown, where: string): GcpConfig {
  const r = GcpConfigSchema.safeParse(value);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `${where}${i.path.length ? `.${i.path.join('.')}` : ''}: ${i.message}`);
    throw new Error(`invalid GCP configuration:\n${lines.join('\n')}`);
  }
  return r.data;
}
