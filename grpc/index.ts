/**
 * Timebox for gRPC services and their callers: the server interceptor that checks prefix tokens, and the client
 * helpers that fetch, cache and attach them.
 */
export {
  type BrokerToken,
  type BrokerTokenFetcherOptions,
  brokerTokenFetcher,
  callCredentials,
  GrpcClientError,
  type TokenSource,
  type TokenSourceOptions,
  tokenSource,
} from './client';
export {
  type AuthOutcome,
  type CallReport,
  type CallResult,
  createAuthorizer,
  GRANT_METADATA_KEY,
  type KeyLike,
  type RefusalReason,
  SUBJECT_METADATA_KEY,
  type TimeboxAuthOptions,
  type TimeboxInterceptor,
  timeboxAuth,
} from './interceptor';
export {
  type RevocationPollReport,
  type RevocationStatus,
  RevocationWatcher,
  revocationFeedVerifier,
  type VerifiedFeed,
} from './revocations';
