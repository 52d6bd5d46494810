/**
 * Every IAM document the stack attaches to its own resources, one file per part: broker.ts (the functions' roles,
 * the scheduler role, the signing key), audit.ts (the trail key and buckets, the api's audit queries), api.ts (the
 * REST API's resource policy), notifications.ts, spoke.ts (the revoker), and checks.ts (checks of documents the
 * program and the tests share). Built by pure functions from plain ARNs so they are unit-tested without Pulumi and
 * the mocks tests can check that each resource carries exactly the document built here.
 */

export * from './api';
export * from './audit';
export * from './broker';
export * from './checks';
export type { PolicyDocument, Statement } from './document';
export { REVOKER_ROLE_NAME, timeboxRoleArns } from './document';
export * from './notifications';
export * from './spoke';
