import { PUBLIC_PATHS } from '../../api/routes';
import { doc, one, type PolicyDocument, type Statement, type Values } from './document';

// API Gateway

/**
 * `GET` paths served without SigV4 (the token verification keys, the revocation feed, the health check): the public
 * routes of the API's route table, so the stack cannot open or close a path the API does not.
 */
export { PUBLIC_PATHS };

/**
 * REST API resource policy. Anyone may GET the public paths; every other call must be SigV4-signed (AWS_IAM on
 * each method) AND come from an allowed account or organization AND from a principal the identity mapping trusts. The Deny matters for callers in the API's own
 * account, whom an identity policy alone would otherwise let in ("How API Gateway resource policies affect
 * authorization workflow": same-account callers need either policy to allow, other accounts need both).
 * `executeApiArn` is `arn:<p>:execute-api:<region>:<account>:<api id>`.
 */
export function apiResourcePolicy(a: {
  executeApiArn: string;
  stage: string;
  allowedAccounts: string[];
  orgId?: string;
  /** `aws:PrincipalArn` patterns of the callers the identity mapping accepts (trustedPrincipalArns). */
  trustedPrincipalArns: string[];
}): PolicyDocument {
  const all = `${a.executeApiArn}/*`;
  const publicArns = PUBLIC_PATHS.map((p) => `${a.executeApiArn}/${a.stage}/GET${p}`);
  const accounts = [...new Set(a.allowedAccounts)].sort();
  if (accounts.length === 0 && !a.orgId) throw new Error('the API must allow at least one account or organization');
  const trusted = [...new Set(a.trustedPrincipalArns)].sort();
  if (trusted.length === 0) throw new Error('the API must trust at least one caller ARN pattern (timebox:identity)');
  const statements: Statement[] = [
    { Sid: 'PublicDocuments', Effect: 'Allow', Principal: '*', Action: 'execute-api:Invoke', Resource: publicArns },
  ];
  if (accounts.length > 0) {
    statements.push({
      Sid: 'AllowedAccounts',
      Effect: 'Allow',
      Principal: '*',
      Action: 'execute-api:Invoke',
      Resource: all,
      Condition: { StringEquals: { 'aws:PrincipalAccount': one(accounts) } },
    });
  }
  if (a.orgId) {
    statements.push({
      Sid: 'AllowedOrganization',
      Effect: 'Allow',
      Principal: '*',
      Action: 'execute-api:Invoke',
      Resource: all,
      Condition: { StringEquals: { 'aws:PrincipalOrgID': a.orgId } },
    });
  }
  // Signed callers from anywhere else are refused even if their own identity policy allows execute-api:Invoke.
  // Null=false limits the Deny to signed requests; unsigned ones can only reach the public GETs anyway. Keys under
  // one operator are ANDed: refused when neither the account is listed nor the organization matches.
  const notAllowed: Record<string, Values> = {};
  if (accounts.length > 0) notAllowed['aws:PrincipalAccount'] = one(accounts);
  if (a.orgId) notAllowed['aws:PrincipalOrgID'] = a.orgId;
  const deny: Statement = {
    Sid: 'DenyOtherCallers',
    Effect: 'Deny',
    Principal: '*',
    Action: 'execute-api:Invoke',
    Resource: all,
    Condition: { Null: { 'aws:PrincipalAccount': 'false' }, StringNotEquals: notAllowed },
  };
  statements.push(deny);
  // The caller's role path is visible here, and only here: `aws:PrincipalArn` of a role session is the role ARN
  // with its path, while the function sees an assumed-role ARN without one. A role named like an Identity Center
  // role but created outside /aws-reserved/sso.amazonaws.com/, or any role the mapping does not name, is refused.
  statements.push({
    Sid: 'DenyUntrustedPrincipals',
    Effect: 'Deny',
    Principal: '*',
    Action: 'execute-api:Invoke',
    Resource: all,
    Condition: { Null: { 'aws:PrincipalArn': 'false' }, StringNotLike: { 'aws:PrincipalArn': one(trusted) } },
  });
  return doc(statements);
}

/** Trust policy of the region-wide role API Gateway uses to write access logs. */
export function apiGatewayLogsTrustPolicy(): PolicyDocument {
  return doc([{ Effect: 'Allow', Principal: { Service: 'apigateway.amazonaws.com' }, Action: 'sts:AssumeRole' }]);
}
