import { describe, expect, it } from 'vitest';
import { isRetriable } from '../../src/errors.js';
import {
  classifyFsError,
  classifyS3Error,
  isNoSpace,
  isRetriableS3Failure,
  isStorageFullS3Failure,
  NO_SPACE_CODE,
  parseRetryAfter,
  s3ErrorFacts,
} from '../../src/deepstore/classify.js';
import { DeepStoreError } from '../../src/deepstore/errors.js';

describe('isRetriableS3Failure', () => {
  it.each([
    // throttling and server trouble: retry later
    ['SlowDown', 503, true],
    ['ServiceUnavailable', 503, true],
    ['InternalError', 500, true],
    ['TooManyRequests', 429, true],
    ['Whatever', 502, true], // any 5xx
    ['Whatever', 408, true],
    ['RequestTimeout', 400, true], // S3's slow-body timeout is a 400
    ['BadDigest', 400, true], // bytes damaged in transit
    ['NoSuchUpload', 404, true], // the multipart upload was removed under us: start over
    ['OperationAborted', 409, true],
    ['ExpiredToken', 400, true], // the credential chain refreshes
    ['RequestTimeTooSkewed', 403, true], // the SDK corrects its clock offset
    // broken connections (no HTTP answer at all)
    ['ECONNRESET', undefined, true],
    ['ECONNREFUSED', undefined, true],
    ['EPIPE', undefined, true],
    ['ETIMEDOUT', undefined, true],
    ['TimeoutError', undefined, true],
    ['EAI_AGAIN', undefined, true],
    // permanent: an operator has to act
    ['AccessDenied', 403, false],
    ['Forbidden', 403, false],
    ['NoSuchBucket', 404, false],
    ['InvalidAccessKeyId', 403, false],
    ['SignatureDoesNotMatch', 403, false],
    ['PermanentRedirect', 301, false],
    ['AuthorizationHeaderMalformed', 400, false],
    ['NotImplemented', 501, false], // a 5xx that will never work
    ['CredentialsProviderError', undefined, false],
    ['InvalidArgument', 400, false], // other 4xx
    ['Unknown', undefined, false], // unknown errors are not retriable (src/errors.ts)
  ])('%s (HTTP %s) → retriable %s', (code, status, expected) => {
    expect(isRetriableS3Failure(code, status)).toBe(expected);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
  it.each([
    ['7', 7000],
    [' 0 ', 0],
    ['120', 120_000],
    ['Wed, 21 Oct 2015 07:28:30 GMT', 30_000],
    ['Wed, 21 Oct 2015 07:27:00 GMT', 0], // in the past: no wait, never negative
    ['-1', undefined],
    ['1.5', undefined],
    ['soon', undefined],
    ['2015-10-21', undefined], // not an HTTP-date (Date.parse would take it)
    ['', undefined],
    [undefined, undefined],
  ])('%j → %s ms', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
});

/** Errors shaped the way AWS SDK v3 throws them (observed against the S3 fake, see s3-deep-store.test.ts). */
function sdkServiceError(name: string, status: number, headers: Record<string, string> = {}, message = 'msg'): Error {
  const err = Object.assign(new Error(message), {
    name,
    $metadata: { httpStatusCode: status },
    $fault: status >= 500 ? 'server' : 'client',
  });
  Object.defineProperty(err, '$response', { value: { statusCode: status, headers }, enumerable: false });
  return err;
}

describe('s3ErrorFacts', () => {
  it('takes the code from the S3 error name, the status from $metadata and Retry-After from $response', () => {
    expect(
      s3ErrorFacts(sdkServiceError('SlowDown', 503, { 'retry-after': '5' }, 'Please reduce your request rate.')),
    ).toEqual({
      code: 'SlowDown',
      httpStatus: 503,
      retryAfter: '5',
      message: 'Please reduce your request rate.',
    });
  });

  it('finds Retry-After whatever the case of the header name', () => {
    expect(s3ErrorFacts(sdkServiceError('SlowDown', 503, { 'Retry-After': '9' })).retryAfter).toBe('9');
  });

  it('names a body-less answer (every HEAD) by its status', () => {
    expect(s3ErrorFacts(sdkServiceError('Unknown', 403)).code).toBe('Forbidden');
    expect(s3ErrorFacts(sdkServiceError('Unknown', 503)).code).toBe('ServiceUnavailable');
    expect(s3ErrorFacts(sdkServiceError('UnknownError', 418)).code).toBe('Http418');
  });

  it('takes a socket error by its Node code', () => {
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET', $metadata: { attempts: 1 } });
    expect(s3ErrorFacts(reset)).toMatchObject({ code: 'ECONNRESET', httpStatus: undefined });
    expect(s3ErrorFacts(Object.assign(new Error('timed out'), { name: 'TimeoutError' })).code).toBe('TimeoutError');
  });

  it('copes with things that are not errors', () => {
    expect(s3ErrorFacts('boom')).toEqual({
      code: 'Unknown',
      httpStatus: undefined,
      retryAfter: undefined,
      message: 'boom',
    });
    expect(s3ErrorFacts(null).code).toBe('Unknown');
  });
});

describe('a full S3-compatible store', () => {
  it.each([
    ['XMinioStorageFull', 507], // MinIO: the drives' free-space threshold
    ['XMinioAdminBucketQuotaExceeded', 400], // MinIO: a hard bucket quota
    ['QuotaExceeded', 403], // Ceph RGW: user or bucket quota
    ['InsufficientStorage', 507],
    ['Unknown', 507], // a body-less 507 (a HEAD, a proxy)
  ])('%s (HTTP %s) → NoSpace, retriable', (name, status) => {
    expect(isStorageFullS3Failure(s3ErrorFacts(sdkServiceError(name, status)).code, status)).toBe(true);
    expect(isRetriableS3Failure(name, status)).toBe(true);
    const err = classifyS3Error(
      sdkServiceError(name, status, {}, 'Storage backend has reached its minimum free drive threshold.'),
      'S3 put s3://b/k',
    );
    expect(err).toMatchObject({ code: NO_SPACE_CODE, retriable: true, httpStatus: status });
    expect(err.message).toMatch(/^S3 put s3:\/\/b\/k failed: the deep store is full: \w+ \(HTTP \d+\): /);
    expect(isNoSpace(err)).toBe(true);
  });

  it.each([
    ['EntityTooLarge', 400], // one object over the limit: waiting does not help
    ['AccessDenied', 403],
    ['SlowDown', 503],
  ])('%s (HTTP %s) is not NoSpace', (name, status) => {
    expect(classifyS3Error(sdkServiceError(name, status), 'S3 put s3://b/k').code).toBe(name);
  });

  it('EntityTooLarge is permanent', () => {
    expect(isRetriableS3Failure('EntityTooLarge', 400)).toBe(false);
  });

  it('isNoSpace is false for anything else', () => {
    expect(isNoSpace(new Error('NoSpace'))).toBe(false);
    expect(isNoSpace(Object.assign(new Error('x'), { code: 'NoSpace' }))).toBe(false);
    expect(isNoSpace(new DeepStoreError('x', { code: 'EIO', retriable: true }))).toBe(false);
  });
});

describe('classifyS3Error', () => {
  const now = 1_000_000;
  it('makes a retriable DeepStoreError with retryAfterMs from SlowDown + Retry-After', () => {
    const cause = sdkServiceError('SlowDown', 503, { 'retry-after': '3' }, 'Please reduce your request rate.');
    const err = classifyS3Error(cause, 'S3 put s3://b/k', now);
    expect(err).toBeInstanceOf(DeepStoreError);
    expect(err).toMatchObject({ code: 'SlowDown', httpStatus: 503, retryAfterMs: 3000, retriable: true, cause });
    expect(isRetriable(err)).toBe(true);
    expect(err.message).toBe('S3 put s3://b/k failed: SlowDown (HTTP 503): Please reduce your request rate.');
  });

  it('makes a permanent error of AccessDenied, without retryAfterMs', () => {
    const err = classifyS3Error(sdkServiceError('AccessDenied', 403), 'S3 head s3://b/k', now);
    expect(err).toMatchObject({ code: 'AccessDenied', httpStatus: 403, retriable: false, retryAfterMs: undefined });
  });

  it('passes a DeepStoreError through untouched', () => {
    const original = new DeepStoreError('x', { code: 'InvalidName', retriable: false });
    expect(classifyS3Error(original, 'S3 put')).toBe(original);
  });
});

describe('classifyFsError', () => {
  it.each([
    ['EIO', true],
    ['EMFILE', true],
    ['ESTALE', true], // NFS
    ['ENOENT', true], // the table folder removed under us
    ['EACCES', false],
    ['EPERM', false],
    ['EROFS', false],
    ['EISDIR', false],
    ['ENAMETOOLONG', false],
  ])('%s → retriable %s', (code, retriable) => {
    const cause = Object.assign(new Error(`${code}: boom`), { code });
    const err = classifyFsError(cause, 'file put file:///x/t/s');
    expect(err).toMatchObject({ code, retriable, cause });
    expect(err.message).toBe(`file put file:///x/t/s failed: ${code}: ${code}: boom`);
  });

  it.each([
    ['ENOSPC', 'no space left on device, write'],
    ['EDQUOT', 'disk quota exceeded, write'],
  ])('%s (a full store) → NoSpace, retriable, and says the store is full', (errno, text) => {
    const cause = Object.assign(new Error(`${errno}: ${text}`), { code: errno });
    const err = classifyFsError(cause, 'file put file:///x/t/s');
    expect(err).toMatchObject({ code: NO_SPACE_CODE, retriable: true, cause });
    expect(err.message).toBe(`file put file:///x/t/s failed: the deep store is full: ${errno}: ${errno}: ${text}`);
    expect(isNoSpace(err)).toBe(true);
  });

  it('calls an error without errno code Unknown, not retriable', () => {
    expect(classifyFsError(new Error('?'), 'x')).toMatchObject({ code: 'Unknown', retriable: false });
  });
});
