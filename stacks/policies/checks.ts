import type { PolicyDocument, Statement, Values } from './document';

// Checks shared by the tests and the program

/** Statements that allow every action on every resource: there must be none in anything the stack writes. */
export function wildcardAllows(d: PolicyDocument): Statement[] {
  const has = (v: Values | undefined, x: string) => v === x || (Array.isArray(v) && v.includes(x));
  return d.Statement.filter(
    (s) => s.Effect === 'Allow' && has(s.Action, '*') && (s.Resource === undefined || has(s.Resource, '*')),
  );
}

// Identity sources (timebox:identity roleArn rules)

const ASSUME_ACTIONS = ['sts:AssumeRole', 'sts:AssumeRoleWithSAML', 'sts:AssumeRoleWithWebIdentity'];

function actionCovers(pattern: string, action: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i').test(action);
}

/**
 * Problems with a role's trust policy as an identity source: empty when every statement that lets anyone assume
 * the role pins `sts:RoleSessionName` (StringEquals) to `${<from>}`, so the session name, which Timebox takes as
 * the person's id, is the IdP's subject or the calling IAM user's name and never the caller's choice.
 */
export function sessionNamePinningProblems(trustPolicy: unknown, from: 'saml:sub' | 'aws:username'): string[] {
  const pinned = `\${${from}}`;
  const raw = (trustPolicy as { Statement?: unknown } | null)?.Statement;
  const statements = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]) as Record<string, unknown>[];
  const problems: string[] = [];
  let assumable = false;
  statements.forEach((s, i) => {
    if (s?.Effect !== 'Allow') return;
    const name = typeof s.Sid === 'string' && s.Sid ? s.Sid : `#${i + 1}`;
    if (s.NotAction !== undefined) {
      problems.push(`statement ${name} uses NotAction: which assume actions it allows cannot be checked`);
      return;
    }
    const actions = (Array.isArray(s.Action) ? s.Action : [s.Action]).filter((a): a is string => typeof a === 'string');
    if (!actions.some((a) => ASSUME_ACTIONS.some((x) => actionCovers(a, x)))) return;
    assumable = true;
    const condition = s.Condition as Record<string, Record<string, unknown>> | undefined;
    const value = condition?.StringEquals?.['sts:RoleSessionName'];
    const values = Array.isArray(value) ? value : [value];
    if (values.length !== 1 || values[0] !== pinned)
      problems.push(
        `statement ${name} lets its principals assume the role without "StringEquals": {"sts:RoleSessionName": "${pinned}"}: they could choose any session name, and so any person`,
      );
  });
  if (!assumable) problems.push('no statement lets anyone assume the role');
  return problems;
}
