import { SidecarError, errorMessage } from '../../errors.js';
import {
  CorruptSegmentError,
  InvalidNameError,
  SegmentChangedError,
  SegmentNotFoundError,
  SegmentReadError,
} from '../../segments/index.js';

/** Every download slot and queue place is taken: the client should come back (503 + Retry-After). */
export class BusyError extends SidecarError {
  constructor(readonly retryAfterSeconds: number) {
    super('too many segment downloads in progress; retry later', { retriable: true });
  }
}

/** Missing or wrong bearer token. */
export class UnauthorizedError extends SidecarError {
  constructor(message = 'missing or invalid bearer token') {
    super(message);
  }
}

/**
 * Valid credentials without the right to do this: a download token on an admin action, a client certificate not on
 * the allow-list (403, RFC 9110 §15.5.4; 401 is for missing or wrong credentials).
 */
export class ForbiddenError extends SidecarError {}

/** A request that is not well-formed for reasons other than a name (a path not in canonical form, ...). */
export class BadRequestError extends SidecarError {}

/** No such route, or a feature that is off (e.g. repair without a deep store). */
export class NotFoundError extends SidecarError {}

/** A known path asked with a method it does not answer: 405 with the methods it does (RFC 9110 §15.5.6). */
export class MethodNotAllowedError extends SidecarError {
  constructor(
    method: string,
    path: string,
    readonly allowed: readonly string[],
  ) {
    super(`${method} ${path} is not allowed; use ${allowed.join(' or ')}`);
  }
}

/** The sidecar is shutting down or not ready for this request yet. */
export class UnavailableError extends SidecarError {
  constructor(
    message: string,
    readonly retryAfterSeconds = 5,
  ) {
    super(message, { retriable: true });
  }
}

export interface HttpError {
  status: 400 | 401 | 403 | 404 | 405 | 500 | 503;
  message: string;
  headers: Record<string, string>;
}

/**
 * The one place errors become HTTP responses (README.md, "HTTP API (one port)": errors are JSON
 * `{"error": ..., "status": ...}`). A corrupt local segment is a 404 like any segment we cannot
 * serve: a peer moves on to the next replica, exactly as for a missing one.
 */
export function toHttpError(err: unknown): HttpError {
  const message = errorMessage(err);
  if (err instanceof InvalidNameError || err instanceof BadRequestError) return { status: 400, message, headers: {} };
  if (err instanceof UnauthorizedError)
    return { status: 401, message, headers: { 'WWW-Authenticate': 'Bearer realm="pinot-sidecar"' } };
  if (err instanceof ForbiddenError) return { status: 403, message, headers: {} };
  if (err instanceof SegmentNotFoundError || err instanceof CorruptSegmentError || err instanceof NotFoundError)
    return { status: 404, message, headers: {} };
  if (err instanceof MethodNotAllowedError) return { status: 405, message, headers: { Allow: err.allowed.join(', ') } };
  if (err instanceof BusyError)
    return { status: 503, message, headers: { 'Retry-After': String(err.retryAfterSeconds) } };
  if (err instanceof UnavailableError)
    return { status: 503, message, headers: { 'Retry-After': String(err.retryAfterSeconds) } };
  // Whatever says it may succeed later (ZooKeeper away, a segment changing, the reconciler stopping)
  // is a 503 the client may retry, not an internal error.
  if (
    err instanceof SegmentChangedError ||
    err instanceof SegmentReadError ||
    (err instanceof SidecarError && err.retriable)
  ) {
    return { status: 503, message, headers: { 'Retry-After': '2' } };
  }
  return { status: 500, message: 'internal error', headers: {} };
}

export function errorBody(status: number, message: string): string {
  return JSON.stringify({ error: message, status });
}
