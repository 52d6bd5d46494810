import type { Command } from 'commander';
import { pathOf } from '../../api/routes';
import { formatDuration } from '../../core/duration';
import type { Grant } from '../../core/grant/state';
import { type ApiClient, BrokerError } from '../client';
import { type CacheKey, forget, identityOf, readCached, writeCached } from '../credential-cache';
import { CliError, EXIT } from '../errors';
import { relative, statusLine } from '../format';
import { DeniedRequest, sendRequest } from './request';
import {
  type BrokerOpts,
  clientFor,
  collect,
  durationFlag,
  grantIdArg,
  out,
  printJson,
  run,
  withBrokerOptions,
} from './shared';

/** The AWS CLI's credential_process document (AWS CLI User Guide, "Sourcing credentials with an external process"). */
export interface CredentialProcessDocument {
  Version: 1;
  AccessKeyId: string;
  SecretAccessKey: string;
  SessionToken: string;
  Expiration: string;
}

type Answer = Record<string, unknown>;

export function isCredentialProcess(a: Answer): a is Answer & CredentialProcessDocument {
  return (
    a.Version === 1 &&
    typeof a.AccessKeyId === 'string' &&
    typeof a.SecretAccessKey === 'string' &&
    typeof a.SessionToken === 'string' &&
    typeof a.Expiration === 'string'
  );
}

/** A local broker's plan for an aws-role or gcp-role grant (adapters/local/providers.ts): what a deployment would apply. */
export function isLocalPlan(a: Answer): boolean {
  return typeof a.note === 'string' && a.note.startsWith('local mode');
}

/** The answer of a credentials call as text for people, by what it holds. */
export function credentialsText(a: Answer, now: Date): string {
  const expires = typeof a.expiresAt === 'string' ? `${a.expiresAt} (${relative(a.expiresAt, now)})` : '-';
  const lines: string[] = [];
  const row = (k: string, v: unknown) =>
    lines.push(`${`${k}:`.padEnd(14)}${typeof v === 'string' ? v : JSON.stringify(v)}`);
  if (isCredentialProcess(a)) return JSON.stringify(a);
  if (isLocalPlan(a)) {
    lines.push(String(a.note), '');
    if (a.kind === 'aws-role') {
      row('role', a.roleArn);
      row('expires', expires);
      if (a.console) row('console', a.console);
      lines.push('', 'AssumeRole input:', JSON.stringify(a.assumeRole, null, 2));
      lines.push('', 'session policy:', JSON.stringify(a.sessionPolicy, null, 2));
    } else {
      row('project', a.project);
      row('member', a.member);
      row('roles', Array.isArray(a.roles) ? a.roles.join(', ') : a.roles);
      row('expires', expires);
      row('console', a.consoleUrl);
      row('propagation', a.propagation);
      lines.push('', 'conditional bindings:', JSON.stringify(a.bindings, null, 2));
    }
    return lines.join('\n');
  }
  if (typeof a.token === 'string') {
    row('token', a.token);
    row('expires', expires);
    return lines.join('\n');
  }
  const binding = a.binding as Answer | undefined;
  if (binding && typeof binding === 'object') {
    row('project', binding.project);
    row('member', binding.member);
    row('roles', Array.isArray(binding.roles) ? binding.roles.join(', ') : binding.roles);
    row('expires', expires);
    row('console', binding.consoleUrl);
    row('note', binding.note);
    return lines.join('\n');
  }
  return JSON.stringify(a, null, 2);
}

/**
 * Whether an existing grant has the scopes `credential-process` asks for. Each half given must match exactly: for
 * aws-role, the actions asked for (IAM actions compare case-insensitively) are exactly the grant's actions, the ARNs
 * exactly its resources; a half not given takes whatever the grant has; a grant with a different half is never
 * reused, so reuse never hands out more than was asked.
 */
export function sameScopes(g: Grant, scopes: string[]): boolean {
  if (scopes.length === 0) return true;
  const scope = g.scope;
  if (!scope) return false;
  const eq = (a: string[], b: string[]) => a.length === b.length && a.every((x) => b.includes(x));
  const uniq = (xs: string[]) => [...new Set(xs)];
  switch (scope.kind) {
    case 'aws-role': {
      const resources = uniq(scopes.filter((s) => s.startsWith('arn:')));
      const actions = uniq(scopes.filter((s) => !s.startsWith('arn:')).map((s) => s.toLowerCase()));
      if (actions.length && !eq(actions, uniq(scope.actions.map((s) => s.toLowerCase())))) return false;
      if (resources.length && !eq(resources, uniq(scope.resources))) return false;
      return true;
    }
    case 'grpc':
      return eq(uniq(scopes), uniq(scope.methods));
    case 'gcp-role':
      return eq(uniq(scopes), uniq(scope.roles));
  }
}

/** How long a reused grant must still run: the AWS CLI refreshes credentials this close to their expiry anyway. */
const REUSE_MARGIN_MS = 60_000;

/** The grant `credential-process` should use or wait on: active first (latest expiry), then pending or approved. */
export function reusable(grants: Grant[], target: string, scopes: string[], now: Date): Grant | undefined {
  const mine = grants.filter((g) => g.target.name === target && sameScopes(g, scopes));
  const active = mine
    .filter((g) => g.status === 'active' && g.expiresAt && Date.parse(g.expiresAt) - now.getTime() > REUSE_MARGIN_MS)
    .sort((a, b) => Date.parse(b.expiresAt as string) - Date.parse(a.expiresAt as string));
  return active[0] ?? mine.find((g) => g.status === 'pending' || g.status === 'approved');
}

async function issue(api: ApiClient, id: string, kind: 'credentials' | 'console'): Promise<Answer> {
  return api.call<Answer>('POST', pathOf(`grant.${kind}`, { id }), {});
}

export function registerAccess(program: Command): void {
  withBrokerOptions(
    program
      .command('credentials')
      .description(
        'credentials of an active grant: credential_process JSON (aws-role), a token (grpc), the binding (gcp-role)',
      )
      .argument('<id>', 'grant id'),
  ).action(async (id: string, opts: BrokerOpts) =>
    run(opts, async () => {
      const answer = await issue(clientFor(opts), grantIdArg(id), 'credentials');
      if (opts.json) return printJson(answer);
      out(credentialsText(answer, new Date()));
    }),
  );

  withBrokerOptions(
    program
      .command('console')
      .description('an AWS console sign-in link for an active aws-role grant')
      .argument('<id>', 'grant id'),
  ).action(async (id: string, opts: BrokerOpts) =>
    run(opts, async () => {
      const answer = await issue(clientFor(opts), grantIdArg(id), 'console');
      if (opts.json) return printJson(answer);
      if (typeof answer.url === 'string') out(answer.url);
      else out(credentialsText(answer, new Date()));
    }),
  );

  withBrokerOptions(
    program
      .command('token')
      .description('print only the bearer token of an active grpc grant (for authorization: Bearer ...)')
      .argument('<id>', 'grant id'),
  ).action(async (id: string, opts: BrokerOpts) =>
    run(opts, async () => {
      const api = clientFor(opts);
      const { grant } = await api.call<{ grant: Grant }>('GET', pathOf('request.get', { id: grantIdArg(id) }));
      if (grant.target.kind !== 'grpc')
        throw new CliError(
          `${id} is an ${grant.target.kind} grant; tokens exist for grpc grants only: use timebox credentials ${id}`,
        );
      const answer = await issue(api, id, 'credentials');
      if (typeof answer.token !== 'string') throw new CliError('the broker answered without a token', EXIT.unavailable);
      if (opts.json) return printJson({ token: answer.token, expiresAt: answer.expiresAt });
      out(answer.token);
    }),
  );

  program
    .command('credential-process')
    .description(
      'for ~/.aws/config credential_process: reuse your active grant on the target (same scopes) or request one; prints only the credential_process JSON',
    )
    .requiredOption('--target <name>', 'aws-role target')
    .option('--scope <scope>', 'an IAM action or resource ARN to narrow to (repeatable)', collect, [])
    .option('--for <duration>', 'length of a new request', '1h')
    .option('--reason <text>', 'reason of a new request (default: "credential_process for <target>")')
    .option('--endpoint <url>', 'broker URL (default: TIMEBOX_ENDPOINT, then http://127.0.0.1:8787)')
    .option('--json', 'accepted for uniformity: the output is always the one JSON document')
    .option('--no-cache', 'always ask the broker for new credentials (default: reuse cached ones, see README)')
    .action(async (opts: CredentialProcessOpts) => {
      const duration = durationFlag('--for', opts.for);
      const api = clientFor(opts);
      const now = new Date();
      const key: CacheKey = {
        endpoint: api.endpoint.href,
        identity: identityOf(process.env),
        target: opts.target,
        scopes: opts.scope,
      };
      if (opts.cache) {
        const cached = await stillServable(api, key, now);
        if (cached) {
          process.stdout.write(`${JSON.stringify(cached)}\n`);
          return;
        }
      }
      const { grants } = await api.call<{ grants: Grant[] }>('GET', `${pathOf('request.list')}?mine=true&limit=100`);
      let grant = reusable(grants, opts.target, opts.scope, now);
      if (!grant) {
        try {
          grant = (
            await sendRequest(api, pathOf('request.create'), {
              target: opts.target,
              ...(opts.scope.length ? { scopes: opts.scope } : {}),
              duration: duration.text,
              reason: opts.reason?.trim() || `credential_process for ${opts.target}`,
            })
          ).grant;
        } catch (e) {
          // Named by target: the AWS CLI shows this line without saying which profile ran the command.
          if (e instanceof DeniedRequest)
            throw new CliError(
              `the access policy denied ${opts.target}: ${e.reasons.map((r) => `${r.code}: ${r.message}`).join('; ')}`,
              EXIT.failed,
            );
          throw e;
        }
      }
      if (grant.target.kind !== 'aws-role')
        throw new CliError(
          `${opts.target} is a ${grant.target.kind} target; credential_process is for aws-role targets`,
        );
      if (grant.status !== 'active') throw new CliError(waitingMessage(grant, now), EXIT.failed);
      const answer = await issue(api, grant.id, 'credentials');
      if (isLocalPlan(answer))
        throw new CliError(
          `local mode: no cloud credentials exist for ${opts.target} (grant ${grant.id}); timebox credentials ${grant.id} shows what a deployment would apply`,
          EXIT.failed,
        );
      if (!isCredentialProcess(answer))
        throw new CliError('the broker answered without credential_process credentials', EXIT.unavailable);
      if (opts.cache && grant.expiresAt)
        writeCached(key, {
          grantId: grant.id,
          grantExpiresAt: grant.expiresAt,
          credentials: {
            Version: 1,
            AccessKeyId: answer.AccessKeyId,
            SecretAccessKey: answer.SecretAccessKey,
            SessionToken: answer.SessionToken,
            Expiration: answer.Expiration,
          },
        });
      // Only the document: the AWS CLI parses stdout as it is.
      process.stdout.write(`${JSON.stringify(answer)}\n`);
    });
}

interface CredentialProcessOpts {
  target: string;
  scope: string[];
  for: string;
  reason?: string;
  endpoint?: string;
  /** False with --no-cache. */
  cache: boolean;
}

/**
 * Cached credentials for `key` whose grant the broker still reports active: one read of the grant
 * (`GET /v1/requests/{id}`) instead of a new AssumeRole and audit event. A grant revoked, ended or gone drops the
 * entry; a broker that does not answer serves nothing from the cache (the normal path then reports the failure).
 */
async function stillServable(api: ApiClient, key: CacheKey, now: Date): Promise<CredentialProcessDocument | undefined> {
  const cached = readCached(key, now);
  if (!cached) return undefined;
  let grant: Grant;
  try {
    ({ grant } = await api.call<{ grant: Grant }>('GET', pathOf('request.get', { id: cached.grantId })));
  } catch (e) {
    if (e instanceof BrokerError && e.status < 500) forget(key);
    return undefined;
  }
  const active =
    grant.id === cached.grantId &&
    grant.status === 'active' &&
    grant.target.name === key.target &&
    typeof grant.expiresAt === 'string' &&
    Date.parse(grant.expiresAt) > now.getTime();
  if (!active) {
    forget(key);
    return undefined;
  }
  return cached.credentials;
}

function waitingMessage(g: Grant, now: Date): string {
  if (g.status === 'pending')
    return `${statusLine(g, now)}; needs approval before credentials exist: ask an approver to run timebox approve ${g.id}`;
  if (g.status === 'approved') return `${statusLine(g, now)}; no credentials before it starts`;
  return `${statusLine(g, now)} (requested for ${formatDuration(g.duration)})`;
}
