import { describe, expect, it } from 'vitest';
import { DeepStoreError } from '../../src/deepstore/errors.js';
import { classifyGcsError, classifyGcsFacts, gcsAnswerFacts, gcsErrorFacts } from '../../src/deepstore/gcs-classify.js';

const NOW = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');

/** An error shaped like @google-cloud/storage's ApiError (code = HTTP status, errors[].reason, response). */
function apiError(code: number, reason: string, message: string, headers: Record<string, string> = {}): Error {
  return Object.assign(new Error(message), { code, errors: [{ reason, message }], response: { headers } });
}

describe('classifyGcsError', () => {
  it.each([
    // [what was thrown, options, code, retriable]
    [apiError(412, 'conditionNotMet', 'Precondition Failed'), {}, 'PreconditionFailed', true],
    [apiError(409, 'conflict', 'conflict'), {}, 'PreconditionFailed', true],
    [apiError(429, 'rateLimitExceeded', 'slow down'), {}, 'TooManyRequests', true],
    [apiError(503, 'backendError', 'try later'), {}, 'ServiceUnavailable', true],
    [apiError(500, 'internalError', 'oops'), {}, 'InternalError', true],
    [apiError(408, 'requestTimeout', 'slow body'), {}, 'RequestTimeout', true],
    [apiError(501, 'notImplemented', 'no'), {}, 'Http501', false],
    [apiError(403, 'forbidden', 'sa has no storage.objects.create'), {}, 'PermissionDenied', false],
    [apiError(401, 'authError', 'Invalid Credentials'), {}, 'Unauthenticated', false],
    [apiError(404, 'notFound', 'The specified bucket does not exist.'), {}, 'NoSuchBucket', false],
    [apiError(404, 'notFound', 'No such object: b/o'), {}, 'NoSuchKey', false],
    [apiError(404, 'notFound', 'Not Found'), { notFound: 'bucket' as const }, 'NoSuchBucket', false],
    [apiError(400, 'invalid', 'bad'), {}, 'BadRequest', false],
    // a GaxiosError of the auth library (status, response.status)
    [
      Object.assign(new Error('invalid_grant'), { status: 400, response: { status: 400, headers: {} } }),
      {},
      'BadRequest',
      false,
    ],
    // broken connections: Node, node-fetch (gaxios), undici (fetch's cause)
    [Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), {}, 'ECONNRESET', true],
    [
      new TypeError('fetch failed', {
        cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }),
      }),
      {},
      'UND_ERR_SOCKET',
      true,
    ],
    [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), {}, 'ECONNREFUSED', true],
    [new DOMException('The operation was aborted due to timeout', 'TimeoutError'), {}, 'TimeoutError', true],
    // credentials that cannot be loaded or used: before any request
    [
      new Error('Could not load the default credentials. Browse to https://cloud.google.com/docs/authentication'),
      {},
      'CredentialsError',
      false,
    ],
    [
      Object.assign(new Error('error:1E08010C:DECODER routines::unsupported'), { code: 'ERR_OSSL_UNSUPPORTED' }),
      {},
      'CredentialsError',
      false,
    ],
    [
      Object.assign(new Error("ENOENT: no such file or directory, open '/keys/sa.json'"), { code: 'ENOENT' }),
      {},
      'CredentialsError',
      false,
    ],
    // unknown errors are not retriable (src/errors.ts)
    [new Error('something else'), {}, 'Unknown', false],
  ])('%s → %s', (err, options, code, retriable) => {
    const classified = classifyGcsError(err, 'GCS put gs://b/k', options, NOW);
    expect(classified).toBeInstanceOf(DeepStoreError);
    expect(classified).toMatchObject({ code, retriable, cause: err });
    expect(classified.message).toMatch(/^GCS put gs:\/\/b\/k failed: /);
  });

  it('passes Retry-After on as retryAfterMs (seconds or an HTTP date)', () => {
    expect(
      classifyGcsError(apiError(429, 'rateLimitExceeded', 'x', { 'Retry-After': '3' }), 'w', {}, NOW).retryAfterMs,
    ).toBe(3000);
    const dated = apiError(503, 'backendError', 'x', { 'retry-after': 'Wed, 21 Oct 2015 07:28:30 GMT' });
    expect(classifyGcsError(dated, 'w', {}, NOW).retryAfterMs).toBe(30_000);
  });

  it('reads Retry-After from a Headers object too (gaxios 7 / fetch responses)', () => {
    const err = Object.assign(new Error('x'), {
      status: 503,
      response: { status: 503, headers: new Headers({ 'Retry-After': '9' }) },
    });
    expect(gcsErrorFacts(err)).toMatchObject({ httpStatus: 503, retryAfter: '9' });
  });

  it('says what to fix for permanent failures, naming the bucket', () => {
    const denied = classifyGcsError(apiError(403, 'forbidden', 'no'), 'GCS put gs://b/k', { bucket: 'b' });
    expect(denied.message).toContain('permission denied on gs://b');
    expect(denied.message).toContain('storage.objects.create');
    const missing = classifyGcsError(apiError(404, 'notFound', 'Not Found'), 'GCS put gs://b/k', {
      bucket: 'b',
      notFound: 'bucket',
    });
    expect(missing.message).toContain('the bucket gs://b does not exist');
  });

  it('passes a DeepStoreError through', () => {
    const original = new DeepStoreError('already classified', { code: 'X', retriable: true });
    expect(classifyGcsError(original, 'w')).toBe(original);
  });
});

describe('gcsAnswerFacts (raw answers of the resumable upload)', () => {
  it('reads GCS JSON error documents', () => {
    const body = JSON.stringify({
      error: { code: 412, message: 'Precondition failed', errors: [{ reason: 'conditionNotMet' }] },
    });
    expect(gcsAnswerFacts(412, null, body)).toEqual({
      httpStatus: 412,
      reason: 'conditionNotMet',
      code: undefined,
      retryAfter: undefined,
      message: 'Precondition failed',
    });
  });

  it('keeps a non-JSON answer (a proxy, a load balancer) as text, and its Retry-After', () => {
    const facts = gcsAnswerFacts(503, '7', '<Error><Code>SlowDown</Code></Error>');
    expect(facts).toMatchObject({
      httpStatus: 503,
      reason: undefined,
      retryAfter: '7',
      message: '<Error><Code>SlowDown</Code></Error>',
    });
    expect(classifyGcsFacts(facts, 'w', {}, undefined, NOW)).toMatchObject({
      code: 'ServiceUnavailable',
      retriable: true,
      retryAfterMs: 7000,
    });
  });
});
