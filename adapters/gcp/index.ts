/** GCP targets: expiring conditional IAM bindings, reached keylessly from AWS (Workload Identity Federation). */
export {
  AWS_REGIONAL_CRED_VERIFICATION_URL,
  createAuthClient,
  externalAccountOptions,
  GOOGLE_STS_TOKEN_URL,
  impersonationUrl,
} from './auth';
export { GCP_PROJECT_ID, type GcpConfig, GcpConfigJsonSchema, GcpConfigSchema, parseGcpConfig } from './config';
export { GCP_CODES, GcpError } from './errors';
export { type MemberRule, type MembersConfig, MembersConfigSchema, memberFor, parseMember } from './members';
export {
  countConditional,
  type IamBinding,
  type IamPolicy,
  isTimeboxBinding,
  MAX_CONDITIONAL_BINDINGS,
  MAX_SAME_ROLE_MEMBER_BINDINGS,
  planAdd,
  planRemove,
} from './policy';
export { createGcpProvider, GcpAccessProvider, type GcpProviderDeps, PROPAGATION_NOTE } from './provider';
export { type GcpAuthClient, ResourceManagerClient } from './resource-manager';
export {
  assumedRoleArn,
  audienceFor,
  awsAttributeMapping,
  BROKER_PERMISSIONS,
  BROKER_ROLE_ID,
  brokerAttributeCondition,
  brokerGrantCondition,
  rolePrincipalSet,
} from './wif';
