/** The AWS adapters, for the Lambda composition root and the stack. */
export { DynamoEventStore, DynamoProjectionStore, documentClient, dueAtOf, eventAtKey } from './dynamodb';
export { awsCall, awsErrorName, isAwsError, translateAwsError } from './errors';
export { derToJose, KmsTokenSigner } from './kms';
export { type RevocationOutcome, type RoleRef, RoleRevoker } from './revocation';
export { atExpression, EventBridgeGrantScheduler, SCHEDULE_RETRY, scheduleName } from './scheduler';
export { AwsRoleProvider, type AwsRoleProviderOptions, CONSOLE_ENDPOINTS, sessionSeconds } from './sts';
