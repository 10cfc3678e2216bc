// Which Google Cloud Storage failures are worth retrying, pure: the GCS counterpart of classify.ts.
//
// GCS answers errors as JSON (`{"error":{"code":412,"message":...,"errors":[{"reason":"conditionNotMet"}]}}`,
// cloud.google.com/storage/docs/json_api/v1/status-codes). The facts arrive in three shapes: an ApiError of
// @google-cloud/storage (`code` = HTTP status, `errors[].reason`, `response.headers`), a GaxiosError of the auth
// library (`status` / `response.status`, `response.data`), and a plain Node or fetch error (`code` ECONNRESET,
// or a fetch TypeError whose `cause` has the code). gcsErrorFacts() reads all three; classifyGcsFacts() decides.
//
// - 408, 429 (rateLimitExceeded), 5xx, timeouts and broken connections: retriable, `Retry-After` passed on.
//   This is Google's own list of retriable answers (cloud.google.com/storage/docs/retry-strategy).
// - 409 and 412 (conditionNotMet): code PreconditionFailed, retriable: someone else wrote the object (see
//   PutOptions.replaceVersion); look again rather than overwrite.
// - 401, 403, a missing bucket, credentials that cannot be loaded or used: permanent, with what to fix.

import { errorMessage } from '../errors.js';
import { BROKEN_CONNECTION_CODES, parseRetryAfter } from './classify.js';
import { DeepStoreError } from './errors.js';

/** What a GCS failure says, whichever client raised it. */
export interface GcsErrorFacts {
  /** The HTTP status of GCS's answer; undefined when there was none (a broken connection, a local failure). */
  httpStatus: number | undefined;
  /** GCS's `errors[0].reason` (`notFound`, `forbidden`, `conditionNotMet`, `rateLimitExceeded`, ...). */
  reason: string | undefined;
  /** A Node / fetch error code (`ECONNRESET`, `UND_ERR_SOCKET`, `ERR_OSSL_UNSUPPORTED`) or the error's name. */
  code: string | undefined;
  retryAfter: string | undefined;
  message: string;
}

/** The broken-connection codes of Node's http, undici (fetch) and node-fetch (gaxios), and timeouts. */
const NETWORK_CODES = new Set([
  ...BROKEN_CONNECTION_CODES,
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
  'TimeoutError',
]);

/** Names for GCS answers, after the status (GCS reasons vary between endpoints; the status does not). */
const STATUS_CODES: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthenticated',
  403: 'PermissionDenied',
  408: 'RequestTimeout',
  409: 'PreconditionFailed',
  412: 'PreconditionFailed',
  429: 'TooManyRequests',
  500: 'InternalError',
  502: 'BadGateway',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
};

interface ErrorShape {
  name?: unknown;
  code?: unknown;
  status?: unknown;
  message?: unknown;
  errors?: Array<{ reason?: unknown; message?: unknown }>;
  cause?: unknown;
  response?: { status?: unknown; statusCode?: unknown; headers?: unknown; data?: unknown };
}

function header(headers: unknown, name: string): string | undefined {
  if (headers === null || typeof headers !== 'object') return undefined;
  const get = (headers as { get?: unknown }).get;
  if (typeof get === 'function') {
    const value: unknown = get.call(headers, name);
    return typeof value === 'string' ? value : undefined;
  }
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : (headers as Record<string, unknown>)[key];
  return typeof value === 'string'
    ? value
    : Array.isArray(value) && typeof value[0] === 'string'
      ? value[0]
      : undefined;
}

/** Read the facts of any error a GCS call can throw (see the file comment for the shapes). */
export function gcsErrorFacts(err: unknown): GcsErrorFacts {
  const e = (typeof err === 'object' && err !== null ? err : {}) as ErrorShape;
  const rawStatus = typeof e.code === 'number' ? e.code : (e.status ?? e.response?.status ?? e.response?.statusCode);
  const httpStatus = typeof rawStatus === 'number' && rawStatus >= 100 ? rawStatus : undefined;
  const reason = e.errors?.find((x) => typeof x.reason === 'string')?.reason as string | undefined;
  const cause = (typeof e.cause === 'object' && e.cause !== null ? e.cause : {}) as ErrorShape;
  const code =
    (typeof e.code === 'string' && e.code) ||
    (typeof cause.code === 'string' && cause.code) ||
    (typeof e.name === 'string' && e.name !== 'Error' && e.name !== 'TypeError' && e.name) ||
    undefined;
  const message =
    errorMessage(err) + (e.cause !== undefined && typeof cause.message === 'string' ? ` (${cause.message})` : '');
  return { httpStatus, reason, code, retryAfter: header(e.response?.headers, 'retry-after'), message };
}

/** The facts of an error answer GCS sent to a raw HTTP request (the resumable upload): status, headers, body. */
export function gcsAnswerFacts(httpStatus: number, retryAfter: string | null, body: string): GcsErrorFacts {
  let reason: string | undefined;
  let message = body.trim().slice(0, 500) || `HTTP ${httpStatus}`;
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown; errors?: Array<{ reason?: unknown }> } };
    const first = parsed.error?.errors?.[0]?.reason;
    if (typeof first === 'string') reason = first;
    if (typeof parsed.error?.message === 'string') message = parsed.error.message;
  } catch {
    // not JSON (a proxy's or load balancer's answer): keep the text
  }
  return { httpStatus, reason, code: undefined, retryAfter: retryAfter ?? undefined, message };
}

/** Loading or using the credentials failed before any request: no key file, an unreadable key, no ADC. */
function isCredentialsFailure(facts: GcsErrorFacts): boolean {
  if (facts.httpStatus !== undefined) return false;
  if (
    facts.code !== undefined &&
    (facts.code.startsWith('ERR_OSSL') || facts.code === 'ENOENT' || facts.code === 'EACCES')
  )
    return true;
  return /default credentials|private key|client_email|credential/i.test(facts.message);
}

export function isRetriableGcsFailure(facts: GcsErrorFacts): boolean {
  const status = facts.httpStatus;
  if (status === undefined) return facts.code !== undefined && NETWORK_CODES.has(facts.code);
  return status === 408 || status === 409 || status === 412 || status === 429 || (status >= 500 && status !== 501);
}

export interface GcsClassifyOptions {
  /** What a 404 means here: the bucket (an upload's start, a list) or the object (a read). Default: object. */
  notFound?: 'bucket' | 'object';
  /** The bucket, for messages. */
  bucket?: string;
}

/** The DeepStoreError code for `facts`. */
export function gcsErrorCode(facts: GcsErrorFacts, options: GcsClassifyOptions = {}): string {
  if (facts.httpStatus === 404) {
    return options.notFound === 'bucket' || /bucket does not exist/i.test(facts.message) ? 'NoSuchBucket' : 'NoSuchKey';
  }
  if (facts.httpStatus !== undefined) return STATUS_CODES[facts.httpStatus] ?? `Http${facts.httpStatus}`;
  if (isCredentialsFailure(facts)) return 'CredentialsError';
  return facts.code ?? 'Unknown';
}

/** What an operator should do about a permanent failure, or '' when the store's own words say it. */
function remedy(code: string, bucket: string): string {
  switch (code) {
    case 'NoSuchBucket':
      return `the bucket ${bucket} does not exist (a typo in the deep-store URI, or another project): `;
    case 'PermissionDenied':
      return (
        `permission denied on ${bucket}: the service account needs storage.objects.create, .get, .list ` +
        '(and .delete to replace an object) on the bucket, e.g. roles/storage.objectAdmin: '
      );
    case 'Unauthenticated':
      return 'the credentials were refused (a revoked or deleted service-account key, a wrong audience): ';
    case 'CredentialsError':
      return (
        'the GCS credentials could not be loaded or used ' +
        '(check the key file, GOOGLE_APPLICATION_CREDENTIALS or the workload identity): '
      );
    default:
      return '';
  }
}

/** Turn `facts` into a DeepStoreError; `what` says which call, e.g. "GCS put gs://b/k". */
export function classifyGcsFacts(
  facts: GcsErrorFacts,
  what: string,
  options: GcsClassifyOptions = {},
  cause?: unknown,
  nowMs: number = Date.now(),
): DeepStoreError {
  const code = gcsErrorCode(facts, options);
  const retriable = isRetriableGcsFailure(facts);
  const retryAfterMs = parseRetryAfter(facts.retryAfter, nowMs);
  const status =
    facts.httpStatus === undefined
      ? ''
      : ` (HTTP ${facts.httpStatus}${facts.reason === undefined ? '' : ` ${facts.reason}`})`;
  const bucket = options.bucket === undefined ? 'the bucket' : `gs://${options.bucket}`;
  return new DeepStoreError(
    `${what} failed: ${retriable ? '' : remedy(code, bucket)}${code}${status}: ${facts.message}`,
    {
      code,
      retriable,
      ...(facts.httpStatus === undefined ? {} : { httpStatus: facts.httpStatus }),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      cause,
    },
  );
}

/** Turn whatever a GCS call threw into a DeepStoreError (a DeepStoreError passes through). */
export function classifyGcsError(
  err: unknown,
  what: string,
  options: GcsClassifyOptions = {},
  nowMs: number = Date.now(),
): DeepStoreError {
  if (err instanceof DeepStoreError) return err;
  return classifyGcsFacts(gcsErrorFacts(err), what, options, err, nowMs);
}
