import { ConflictException } from '@aws-sdk/client-scheduler';
import { describe, expect, it } from '@jest/globals';
import { awsCall, isAwsError, translateAwsError } from '../../../adapters/aws/errors';
import { NotFoundError, TimeboxError } from '../../../core/errors';

const sdkError = (name: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`raw ${name} with request id 1234`), { name, $metadata: { httpStatusCode: 400 }, ...extra });

describe('Function: translateAwsError', () => {
  it.each([
    ['ThrottlingException', 'AWS.THROTTLED', 'unavailable'],
    ['Throttling', 'AWS.THROTTLED', 'unavailable'],
    ['ProvisionedThroughputExceededException', 'AWS.THROTTLED', 'unavailable'],
    ['AccessDenied', 'AWS.ACCESS_DENIED', 'unavailable'],
    ['AccessDeniedException', 'AWS.ACCESS_DENIED', 'unavailable'],
    ['ExpiredTokenException', 'AWS.CREDENTIALS', 'unavailable'],
    ['RegionDisabledException', 'AWS.REGION_DISABLED', 'unavailable'],
    ['PackedPolicyTooLargeException', 'AWS.PACKED_POLICY_TOO_LARGE', 'invalid'],
    ['MalformedPolicyDocumentException', 'AWS.MALFORMED_POLICY', 'invalid'],
    ['LimitExceededException', 'AWS.LIMIT_EXCEEDED', 'unavailable'],
    ['ResourceNotFoundException', 'AWS.NOT_FOUND', 'unavailable'],
    ['KMSInvalidStateException', 'AWS.KEY_UNAVAILABLE', 'unavailable'],
    ['ValidationException', 'AWS.INVALID_REQUEST', 'invalid'],
    ['SomethingNew', 'AWS.ERROR', 'unavailable'],
  ])('maps %s to %s', (name, code, kind) => {
    const raw = sdkError(name);
    const e = translateAwsError(raw, 'sts:AssumeRole', 'arn:aws:iam::1:role/timebox/x');
    expect(e).toBeInstanceOf(TimeboxError);
    expect(e).toMatchObject({ code, kind, cause: raw });
    expect(e.message).toContain('sts:AssumeRole on arn:aws:iam::1:role/timebox/x');
    expect(e.message).not.toContain('request id');
  });

  it('maps server faults and network failures to retryable errors', () => {
    expect(
      translateAwsError(sdkError('InternalFailure', { $fault: 'server', $metadata: { httpStatusCode: 500 } }), 'x'),
    ).toMatchObject({
      code: 'AWS.UNAVAILABLE',
    });
    expect(translateAwsError(Object.assign(new Error('socket'), { code: 'ECONNRESET' }), 'x')).toMatchObject({
      code: 'AWS.UNREACHABLE',
    });
    expect(
      translateAwsError(
        new ConflictException({ message: 'exists', Message: 'exists', $metadata: {} }),
        'scheduler:CreateSchedule',
      ),
    ).toMatchObject({
      code: 'AWS.ERROR',
      message: expect.stringContaining('ConflictException'),
    });
  });

  it('passes domain errors through unchanged', () => {
    const domain = new NotFoundError('GRANT.NOT_FOUND', 'no');
    expect(translateAwsError(domain, 'x')).toBe(domain);
  });
});

describe('Function: awsCall', () => {
  it('returns the result, or throws the translated error', async () => {
    expect(await awsCall('s3:Get', undefined, async () => 42)).toBe(42);
    await expect(awsCall('s3:Get', 'b', async () => Promise.reject(sdkError('AccessDenied')))).rejects.toMatchObject({
      code: 'AWS.ACCESS_DENIED',
      message: expect.stringContaining('s3:Get on b'),
    });
  });

  it('recognises SDK errors by name', () => {
    expect(isAwsError(sdkError('NoSuchEntity'), 'NoSuchEntityException', 'NoSuchEntity')).toBe(true);
    expect(isAwsError(new Error('x'), 'NoSuchEntity')).toBe(false);
    expect(isAwsError('NoSuchEntity', 'NoSuchEntity')).toBe(false);
  });
});
