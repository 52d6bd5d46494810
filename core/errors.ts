/**
 * Domain errors. Every error that can reach a user carries a stable `code` (`AREA.REASON`), which the API
 * maps to an HTTP status and the CLI prints. Expected outcomes of a decision (deny, needs approval) are values,
 * not errors; these are for requests that cannot be carried out.
 */
export type ErrorKind =
  | 'invalid'
  | 'unauthenticated'
  | 'forbidden'
  | 'not-found'
  | 'conflict'
  | 'unprocessable'
  | 'unavailable';

export class TimeboxError extends Error {
  public readonly code: string;
  public readonly kind: ErrorKind;
  public readonly details?: unknown;

  constructor(kind: ErrorKind, code: string, message: string, options?: { cause?: unknown; details?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TimeboxError';
    this.kind = kind;
    this.code = code;
    this.details = options?.details;
  }
}

/** Bad input: a field is missing, malformed or out of range. */
export class ValidationError extends TimeboxError {
  constructor(code: string, message: string, options?: { cause?: unknown; details?: unknown }) {
    super('invalid', code, message, options);
    this.name = 'ValidationError';
  }
}

/** The caller is known but may not do this. */
export class ForbiddenError extends TimeboxError {
  constructor(code: string, message: string, options?: { cause?: unknown; details?: unknown }) {
    super('forbidden', code, message, options);
    this.name = 'ForbiddenError';
  }
}

export class NotFoundError extends TimeboxError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super('not-found', code, message, options);
    this.name = 'NotFoundError';
  }
}

/** The request is well-formed but the grant is in a state that does not allow it (already decided, expired...). */
export class StateError extends TimeboxError {
  constructor(code: string, message: string, options?: { cause?: unknown; details?: unknown }) {
    super('conflict', code, message, options);
    this.name = 'StateError';
  }
}

/**
 * Optimistic-concurrency conflict: another writer appended the same sequence number first.
 * The service re-reads and retries; it only escapes when retries are exhausted.
 */
export class ConcurrencyError extends TimeboxError {
  public readonly streamId: string;
  public readonly seq: number;
  constructor(streamId: string, seq: number, options?: { cause?: unknown }) {
    super('conflict', 'STORE.CONFLICT', `event ${seq} of ${streamId} was written by another writer`, options);
    this.name = 'ConcurrencyError';
    this.streamId = streamId;
    this.seq = seq;
  }
}

/** A policy or decision refused the request (carries the decision's reasons). */
export class DeniedError extends TimeboxError {
  constructor(code: string, message: string, details?: unknown) {
    super('unprocessable', code, message, { details });
    this.name = 'DeniedError';
  }
}

/** A dependency (cloud API, store) failed in a way the caller may retry. */
export class UnavailableError extends TimeboxError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super('unavailable', code, message, options);
    this.name = 'UnavailableError';
  }
}

export function isTimeboxError(e: unknown): e is TimeboxError {
  return e instanceof TimeboxError;
}
