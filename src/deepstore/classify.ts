// Which storage failures are worth retrying, pure. The caller (the reconciler) retries with its own capped
// exponential backoff, so the only question here is "may the same call succeed later without an operator?".
//
// - Throttling (SlowDown, 429), 5xx, timeouts and broken connections: yes. The server may also say how long
//   to wait (`Retry-After`), which we pass on as `retryAfterMs`.
// - Permissions, credentials, a missing bucket, a wrong region: no. These need a person; retrying them fast
//   only adds load and hides the reason (docs/architecture.md, "A repair").
// - Anything unrecognised without an HTTP answer: no, like every unknown error in the project (errors.ts).
// - A full store (a full disk, a used-up quota): yes, with backoff, and under one code of its own,
//   `NoSpace`, whatever the store called it: it frees up when retention deletes segments or an operator adds
//   space, and it is worth its own alert.
//
// The S3 lists follow the AWS SDK's own classification (@smithy/core retry: THROTTLING_ERROR_CODES,
// TRANSIENT_ERROR_CODES, NODEJS_*_ERROR_CODES) plus S3's documented error codes.

import { errorMessage } from '../errors.js';
import { DeepStoreError } from './errors.js';

/** DeepStoreError.code of every "the deep store is full" failure, file or object store. */
export const NO_SPACE_CODE = 'NoSpace';

/** True for a deep-store failure that means the store is full (DeepStoreError code `NoSpace`). */
export function isNoSpace(err: unknown): boolean {
  return err instanceof DeepStoreError && err.code === NO_SPACE_CODE;
}

/**
 * S3-compatible stores that say "full": MinIO `XMinioStorageFull` (507, the drives' free-space threshold) and
 * `XMinioAdminBucketQuotaExceeded` (400, a hard bucket quota), Ceph RGW `QuotaExceeded` (403, user or bucket
 * quota), and WebDAV's 507 Insufficient Storage under any code. AWS S3 itself never fills up. `EntityTooLarge`
 * is not one of them: it is a single object over the store's size limit, which no amount of waiting fixes.
 */
const STORAGE_FULL_CODES = new Set([
  'XMinioStorageFull',
  'XMinioAdminBucketQuotaExceeded',
  'QuotaExceeded',
  'InsufficientStorage',
]);

export function isStorageFullS3Failure(code: string, httpStatus: number | undefined): boolean {
  return STORAGE_FULL_CODES.has(code) || httpStatus === 507;
}

/**
 * Node's codes for a connection that broke or could not be made (the request may or may not have arrived):
 * retriable for every store. One list, spread into each store's own set.
 */
export const BROKEN_CONNECTION_CODES = [
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
] as const;

/** Answers that are wrong whatever the status code says (`NotImplemented` is a 501). */
const PERMANENT_CODES = new Set([
  'AccessDenied',
  'AccountProblem',
  'AllAccessDisabled',
  'AuthorizationHeaderMalformed', // wrong region configured
  'CredentialsProviderError', // no credentials found in the AWS chain
  'Forbidden', // a 403 to HEAD, which has no body to name the reason
  'InvalidAccessKeyId',
  'InvalidBucketName',
  'InvalidRegion',
  'NoSuchBucket',
  'NotImplemented',
  'PermanentRedirect', // bucket lives in another region
  'SignatureDoesNotMatch', // wrong secret key
  'EntityTooLarge', // one object over the store's limit (5 GiB for a single PUT on AWS)
]);

const RETRIABLE_CODES = new Set([
  // throttling
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'BandwidthLimitExceeded',
  'PriorRequestNotComplete',
  // the server or the path to it had a moment
  'InternalError',
  'ServiceUnavailable',
  'RequestTimeout', // S3's 400 for a body that arrived too slowly
  'RequestTimeoutException',
  'TimeoutError', // the SDK's own connection/socket timeouts
  'IncompleteBody',
  'BadDigest', // bytes damaged in transit
  'XAmzContentSHA256Mismatch',
  'OperationAborted', // 409 "a conflicting operation is in progress, try again"
  'NoSuchUpload', // the multipart upload vanished (lifecycle rule, concurrent abort): a new attempt starts over
  // credentials or clock that the SDK refreshes/corrects by itself
  'ExpiredToken',
  'ExpiredTokenException',
  'TokenRefreshRequired',
  'RequestTimeTooSkewed',
  // the connection broke
  ...BROKEN_CONNECTION_CODES,
]);

export function isRetriableS3Failure(code: string, httpStatus: number | undefined): boolean {
  if (isStorageFullS3Failure(code, httpStatus)) return true;
  if (PERMANENT_CODES.has(code)) return false;
  if (RETRIABLE_CODES.has(code)) return true;
  if (httpStatus === undefined) return false;
  return httpStatus >= 500 || httpStatus === 429 || httpStatus === 408;
}

const IMF_FIXDATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, in milliseconds from `nowMs`. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  if (IMF_FIXDATE.test(trimmed)) {
    const at = Date.parse(trimmed);
    if (!Number.isNaN(at)) return Math.max(0, at - nowMs);
  }
  return undefined;
}

/** Names for body-less error answers, after S3's own codes for these statuses. */
const STATUS_CODES: Record<number, string> = {
  400: 'BadRequest',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  412: 'PreconditionFailed',
  429: 'TooManyRequests',
  500: 'InternalError',
  501: 'NotImplemented',
  502: 'BadGateway',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
  507: 'InsufficientStorage',
};

/** What an AWS SDK v3 error carries, wherever the SDK put it. */
export interface S3ErrorFacts {
  code: string;
  httpStatus: number | undefined;
  retryAfter: string | undefined;
  message: string;
}

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  Code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  // The raw HTTP response (HttpResponse: statusCode, headers with lower-case names from node-http-handler).
  // The SDK attaches it as a non-enumerable property of every service error (@smithy/core schema
  // deserializer); it is where Retry-After lives, since S3 error documents do not carry it.
  $response?: { statusCode?: unknown; headers?: Record<string, string | undefined> };
}

export function s3ErrorFacts(err: unknown): S3ErrorFacts {
  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkErrorShape;
  const status = e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
  const httpStatus = typeof status === 'number' ? status : undefined;
  const headers = e.$response?.headers ?? {};
  const retryAfterName = Object.keys(headers).find((name) => name.toLowerCase() === 'retry-after');
  // S3 error documents name the failure in <Code>, which the SDK turns into `name` (and sometimes `Code`);
  // a Node socket error has a `code` (ECONNRESET) and the generic name "Error".
  let code =
    (typeof e.Code === 'string' && e.Code) ||
    (httpStatus !== undefined && typeof e.name === 'string' && e.name) ||
    (typeof e.code === 'string' && e.code) ||
    (typeof e.name === 'string' && e.name !== 'Error' && e.name) ||
    'Unknown';
  // An error answer without a body (every HEAD) leaves the SDK nothing to name it by ("Unknown").
  if (httpStatus !== undefined && (code === 'Unknown' || code === 'UnknownError')) {
    code = STATUS_CODES[httpStatus] ?? `Http${httpStatus}`;
  }
  return {
    code,
    httpStatus,
    retryAfter: retryAfterName === undefined ? undefined : headers[retryAfterName],
    message: errorMessage(err),
  };
}

/** Turn whatever the SDK threw into a DeepStoreError; `what` says which call, e.g. "S3 put s3://b/k". */
export function classifyS3Error(err: unknown, what: string, nowMs: number = Date.now()): DeepStoreError {
  if (err instanceof DeepStoreError) return err;
  const facts = s3ErrorFacts(err);
  const retryAfterMs = parseRetryAfter(facts.retryAfter, nowMs);
  const full = isStorageFullS3Failure(facts.code, facts.httpStatus);
  const status = facts.httpStatus === undefined ? '' : ` (HTTP ${facts.httpStatus})`;
  return new DeepStoreError(
    `${what} failed: ${full ? 'the deep store is full: ' : ''}${facts.code}${status}: ${facts.message}`,
    {
      code: full ? NO_SPACE_CODE : facts.code,
      retriable: isRetriableS3Failure(facts.code, facts.httpStatus),
      ...(facts.httpStatus === undefined ? {} : { httpStatus: facts.httpStatus }),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      cause: err,
    },
  );
}

/** errno codes of a full file system: no space left (ENOSPC), or the user's disk quota used up (EDQUOT). */
const NO_SPACE_FS_CODES = new Set(['ENOSPC', 'EDQUOT']);

/** File-system errors (errno codes) that may go away by themselves: a full disk, a busy or flaky NFS mount. */
const RETRIABLE_FS_CODES = new Set([
  'EAGAIN',
  'EBUSY',
  'EINTR',
  'EIO',
  'EMFILE',
  'ENFILE',
  'ESTALE',
  'ETIMEDOUT',
  'ENOENT',
  ...NO_SPACE_FS_CODES,
]);

export function isRetriableFsFailure(code: string): boolean {
  return RETRIABLE_FS_CODES.has(code);
}

/** The errno code of a Node file-system error ('ENOSPC'), or 'Unknown'. */
export function fsErrorCode(err: unknown): string {
  const raw = (err as { code?: unknown } | null)?.code;
  return typeof raw === 'string' ? raw : 'Unknown';
}

export function classifyFsError(err: unknown, what: string): DeepStoreError {
  if (err instanceof DeepStoreError) return err;
  const code = fsErrorCode(err);
  const full = NO_SPACE_FS_CODES.has(code);
  return new DeepStoreError(`${what} failed: ${full ? 'the deep store is full: ' : ''}${code}: ${errorMessage(err)}`, {
    code: full ? NO_SPACE_CODE : code,
    retriable: isRetriableFsFailure(code),
    cause: err,
  });
}
