import { isTimeboxError, type TimeboxError, UnavailableError, ValidationError } from '../../core/errors';

/**
 * One place where AWS SDK errors become domain errors, so no raw SDK error (with its request ids, endpoints
 * and sometimes policy text) leaks past an adapter. Adapters catch only the few errors they handle as outcomes
 * (ConditionalCheckFailed, NoSuchEntity, ConflictException...) and pass everything else through `translateAwsError`.
 */

/** The SDK v3 error shape we rely on: every service exception has `name`, most have `$metadata`. */
interface SdkErrorLike {
  name?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
  code?: string;
}

/** The error's AWS name (`ThrottlingException`, `NoSuchEntity`...), or undefined for non-SDK errors. */
export function awsErrorName(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const name = (e as SdkErrorLike).name;
  return typeof name === 'string' ? name : undefined;
}

/** True when `e` is an SDK error with one of these names (works for real SDK classes and mocks alike). */
export function isAwsError(e: unknown, ...names: string[]): boolean {
  const name = awsErrorName(e);
  return name !== undefined && names.includes(name);
}

// Names from the SDK's own retry classification (@smithy/core retry THROTTLING_ERROR_CODES),
// less LimitExceededException: IAM uses it for quotas (e.g. the 10,240-character inline budget), not throttling.
const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottledException',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'TransactionInProgressException',
  'RequestLimitExceeded',
  'BandwidthLimitExceeded',
  'RequestThrottled',
  'SlowDown',
  'PriorRequestNotComplete',
  'EC2ThrottledException',
  'RequestLimitExceededException',
]);
const ACCESS_DENIED = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'UnauthorizedException',
  'AuthorizationError',
]);
const BAD_CREDENTIALS = new Set([
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'CredentialsProviderError',
]);
const NETWORK = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * Maps any error thrown by an AWS call to a TimeboxError with a stable code. `action` names the IAM action
 * (`sts:AssumeRole`), `resource` what it was called on; both appear in the message so an operator can fix the
 * policy without reading SDK traces. The SDK error stays attached as `cause` for the logs.
 */
export function translateAwsError(e: unknown, action: string, resource?: string): TimeboxError {
  if (isTimeboxError(e)) return e;
  const name = awsErrorName(e) ?? 'Error';
  const on = resource ? ` on ${resource}` : '';
  const opts = { cause: e };
  if (THROTTLING.has(name))
    return new UnavailableError('AWS.THROTTLED', `${action}${on} was throttled by AWS; retry shortly`, opts);
  if (ACCESS_DENIED.has(name))
    return new UnavailableError(
      'AWS.ACCESS_DENIED',
      `the broker is not allowed to call ${action}${on}: check its role policy and the target's trust policy`,
      opts,
    );
  if (BAD_CREDENTIALS.has(name))
    return new UnavailableError(
      'AWS.CREDENTIALS',
      `${action}${on} failed: the broker's own AWS credentials were refused`,
      opts,
    );
  switch (name) {
    case 'RegionDisabledException':
      return new UnavailableError(
        'AWS.REGION_DISABLED',
        `${action}${on} failed: STS is not activated in this region for the target account (IAM > Account settings)`,
        opts,
      );
    case 'PackedPolicyTooLargeException':
      return new ValidationError(
        'AWS.PACKED_POLICY_TOO_LARGE',
        `${action}${on} failed: the session policy and tags exceed STS's packed size limit; request a narrower scope`,
        opts,
      );
    case 'MalformedPolicyDocumentException':
    case 'MalformedPolicyDocument':
      return new ValidationError(
        'AWS.MALFORMED_POLICY',
        `${action}${on} failed: AWS refused the policy document`,
        opts,
      );
    case 'NoSuchEntity':
    case 'NoSuchEntityException':
    case 'ResourceNotFoundException':
    case 'NotFoundException':
      return new UnavailableError('AWS.NOT_FOUND', `${action}${on} failed: the resource does not exist`, opts);
    case 'DisabledException':
    case 'KMSInvalidStateException':
    case 'KeyUnavailableException':
      return new UnavailableError(
        'AWS.KEY_UNAVAILABLE',
        `${action}${on} failed: the KMS key is disabled or unavailable`,
        opts,
      );
    case 'LimitExceeded':
    case 'LimitExceededException':
      return new UnavailableError('AWS.LIMIT_EXCEEDED', `${action}${on} failed: an AWS quota was reached`, opts);
    case 'ValidationException':
    case 'ValidationError':
      return new ValidationError('AWS.INVALID_REQUEST', `${action}${on} was rejected as invalid by AWS`, opts);
  }
  const err = e as SdkErrorLike;
  if (NETWORK.has(name) || (typeof err?.code === 'string' && NETWORK.has(err.code)))
    return new UnavailableError('AWS.UNREACHABLE', `${action}${on} failed: AWS did not answer`, opts);
  const status = err?.$metadata?.httpStatusCode;
  if (err?.$fault === 'server' || (status !== undefined && status >= 500))
    return new UnavailableError(
      'AWS.UNAVAILABLE',
      `${action}${on} failed on the AWS side (${name}); retry shortly`,
      opts,
    );
  return new UnavailableError('AWS.ERROR', `${action}${on} failed (${name})`, opts);
}

/** Runs one AWS call and translates whatever it throws. */
export async function awsCall<T>(action: string, resource: string | undefined, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw translateAwsError(e, action, resource);
  }
}
