import type { Command } from 'commander';
import { roleArn, sessionPolicy } from '../../core/builders/aws';
import { gcpBindings } from '../../core/builders/gcp';
import { grpcClaims } from '../../core/builders/grpc';
import { type Decision, decide } from '../../core/decide';
import { parseDuration } from '../../core/duration';
import { compilePolicy } from '../../core/policy/compile';
import { isValidPrincipalId, principal } from '../../core/principal';
import { CliError } from '../errors';
import { readPolicyFile } from './check';

const collect = (v: string, acc: string[]) => [...acc, v];

/** What a grant would put in place, as the cloud would see it (for `plan` and the local broker). */
export function plannedGrant(d: Decision, principalId: string, issuer = 'timebox'): Record<string, unknown> | null {
  if (d.decision === 'deny' || !d.target || !d.scope || !d.expiresAt) return null;
  switch (d.scope.kind) {
    case 'aws-role':
      if (d.target.kind !== 'aws-role') return null;
      return { kind: 'aws-role', roleArn: roleArn(d.target), sessionPolicy: sessionPolicy(d.scope, d.expiresAt) };
    case 'gcp-role': {
      const bindings = gcpBindings({
        grantId: '<grant id>',
        member: `user:${principalId}`,
        roles: d.scope.roles,
        expiresAt: d.expiresAt,
      });
      return { kind: 'gcp-role', binding: bindings[0], bindings };
    }
    case 'grpc':
      if (d.target.kind !== 'grpc') return null;
      return {
        kind: 'grpc',
        claims: grpcClaims({
          issuer,
          grantId: '<grant id>',
          principalId,
          audience: d.target.audience,
          methods: d.scope.methods,
          now: d.startAt,
          expiresAt: d.expiresAt,
          ttlMs: d.expiresAt.getTime() - d.startAt.getTime(),
        }),
      };
  }
}

function parseTime(flag: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const t = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(t.getTime()))
    throw new CliError(`${flag}: "${value}" is not an ISO-8601 time such as 2026-11-25T09:30:00Z`);
  return t;
}

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('decide a hypothetical request offline and print one JSON object (exit 0 for every decision)')
    .requiredOption('-c, --config <file>', 'access policy file')
    .requiredOption('--as <principal>', 'who asks')
    .option('--group <g>', 'a group the identity provider asserts (repeatable)', collect, [])
    .option('--attr <k=v>', 'an attribute the identity provider asserts (repeatable)', collect, [])
    .option('--mfa', 'the session has MFA', false)
    .option('--ip <addr>', 'source IP of the request')
    .option('--at <time>', 'evaluation time, ISO-8601 (default now)')
    .requiredOption('--target <name>', 'target to request')
    .option('--scope <s>', 'narrower scope (repeatable)', collect, [])
    .requiredOption('--duration <d>', 'how long, e.g. 30m, 1h30m, PT30M')
    .option('--start <time>', 'requested start, ISO-8601')
    .action(
      async (opts: {
        config: string;
        as: string;
        group: string[];
        attr: string[];
        mfa: boolean;
        ip?: string;
        at?: string;
        target: string;
        scope: string[];
        duration: string;
        start?: string;
      }) => {
        if (!isValidPrincipalId(opts.as)) throw new CliError(`--as: "${opts.as}" is not a principal id`);
        const duration = parseDuration(opts.duration);
        if (!duration.ok) throw new CliError(`--duration: ${duration.message}`);
        const attributes: Record<string, string> = {};
        for (const a of opts.attr) {
          const i = a.indexOf('=');
          if (i <= 0) throw new CliError(`--attr: "${a}" must be key=value`);
          attributes[a.slice(0, i)] = a.slice(i + 1);
        }
        const now = parseTime('--at', opts.at) ?? new Date();
        const startAt = parseTime('--start', opts.start);
        const compiled = compilePolicy(await readPolicyFile(opts.config));
        const who = principal({
          id: opts.as,
          groups: opts.group,
          mfa: opts.mfa,
          attributes,
          ...(opts.ip ? { sourceIp: opts.ip } : {}),
        });
        const d = decide(
          compiled,
          who,
          { target: opts.target, scopes: opts.scope, duration: duration.ms, ...(startAt ? { startAt } : {}) },
          now,
        );
        const out = {
          decision: d.decision,
          rule: d.rule,
          reasons: d.reasons,
          expiresAt: d.expiresAt?.toISOString() ?? null,
          approval: d.approval ? { count: d.approval.count, from: d.approval.from } : null,
          grant: plannedGrant(d, who.id),
        };
        process.stdout.write(`${JSON.stringify(out)}\n`);
      },
    );
}
