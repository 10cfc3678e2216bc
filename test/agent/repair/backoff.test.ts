import { describe, expect, it } from 'vitest';
import {
  classifyFailure,
  DEFAULT_BACKOFF,
  retryDelayMs,
  type FailureClass,
} from '../../../src/agent/repair/backoff.js';
import { CasConflictError, DeepStoreVerifyError, SessionChangedError } from '../../../src/agent/repair/errors.js';
import { DeepStoreError } from '../../../src/deepstore/errors.js';
import { ZooKeeperError } from '../../../src/helix/errors.js';
import { SegmentChangedError } from '../../../src/segments/errors.js';

const retriable: FailureClass = { permanent: false, reason: 'InternalError' };
const permanent: FailureClass = { permanent: true, reason: 'AccessDenied' };

describe('retryDelayMs (1 s, x2, 5 min cap, equal jitter)', () => {
  it.each([
    // failures, random, expected: uniform in [base/2, base], floored at 1 s, capped at 5 min
    { failures: 1, random: 0, expected: 1_000 },
    { failures: 1, random: 1, expected: 1_000 },
    { failures: 2, random: 0, expected: 1_000 },
    { failures: 2, random: 1, expected: 2_000 },
    { failures: 3, random: 0.5, expected: 3_000 },
    { failures: 5, random: 1, expected: 16_000 },
    { failures: 9, random: 0, expected: 128_000 },
    { failures: 9, random: 1, expected: 256_000 },
    { failures: 10, random: 0, expected: 150_000 },
    { failures: 10, random: 1, expected: 300_000 },
    { failures: 60, random: 1, expected: 300_000 },
    { failures: 60, random: 0, expected: 150_000 },
  ])('after $failures failures, random $random: $expected ms', ({ failures, random, expected }) => {
    expect(retryDelayMs(failures, retriable, DEFAULT_BACKOFF, () => random)).toBe(expected);
  });

  it.each([
    {
      name: 'Retry-After longer than the backoff wins',
      failure: { ...retriable, retryAfterMs: 7_000 },
      failures: 1,
      expected: 7_000,
    },
    {
      name: 'Retry-After shorter than the backoff does not shorten it',
      failure: { ...retriable, retryAfterMs: 500 },
      failures: 4,
      expected: 8_000,
    },
    {
      name: 'Retry-After beyond the cap is still honoured',
      failure: { ...retriable, retryAfterMs: 600_000 },
      failures: 1,
      expected: 600_000,
    },
    { name: 'a permanent error waits the cap, whatever the count', failure: permanent, failures: 1, expected: 300_000 },
    {
      name: 'a permanent error with a longer Retry-After waits that',
      failure: { ...permanent, retryAfterMs: 900_000 },
      failures: 1,
      expected: 900_000,
    },
  ])('$name', ({ failure, failures, expected }) => {
    expect(retryDelayMs(failures, failure, DEFAULT_BACKOFF, () => 1)).toBe(expected);
  });

  it('small policies (tests) follow the same shape', () => {
    const policy = { minMs: 10, factor: 2, maxMs: 100 };
    expect([1, 2, 3, 4, 5, 6].map((n) => retryDelayMs(n, retriable, policy, () => 1))).toEqual([
      10, 20, 40, 80, 100, 100,
    ]);
    expect(retryDelayMs(1, permanent, policy, () => 0)).toBe(100);
  });
});

describe('classifyFailure', () => {
  it.each([
    {
      name: 'S3 throttling with Retry-After',
      err: new DeepStoreError('x', { code: 'SlowDown', retriable: true, httpStatus: 503, retryAfterMs: 7_000 }),
      expected: { permanent: false, reason: 'SlowDown', retryAfterMs: 7_000 },
    },
    {
      name: 'S3 500',
      err: new DeepStoreError('x', { code: 'InternalError', retriable: true, httpStatus: 500 }),
      expected: { permanent: false, reason: 'InternalError' },
    },
    {
      name: 'S3 403',
      err: new DeepStoreError('x', { code: 'AccessDenied', retriable: false, httpStatus: 403 }),
      expected: { permanent: true, reason: 'AccessDenied' },
    },
    {
      name: 'missing bucket',
      err: new DeepStoreError('x', { code: 'NoSuchBucket', retriable: false, httpStatus: 404 }),
      expected: { permanent: true, reason: 'NoSuchBucket' },
    },
    {
      name: 'bad credentials',
      err: new DeepStoreError('x', { code: 'InvalidAccessKeyId', retriable: false, httpStatus: 403 }),
      expected: { permanent: true, reason: 'InvalidAccessKeyId' },
    },
    {
      name: 'ZooKeeper connection loss',
      err: new ZooKeeperError('CONNECTION_LOSS', 'setData', '/x'),
      expected: { permanent: false, reason: 'ZooKeeperConnectionLoss' },
    },
    {
      name: 'ZooKeeper session expired',
      err: new ZooKeeperError('SESSION_EXPIRED', 'getData', '/x'),
      expected: { permanent: false, reason: 'ZooKeeperSessionExpired' },
    },
    {
      name: 'segment changed while archived',
      err: new SegmentChangedError('/d', 'gone'),
      expected: { permanent: false, reason: 'SegmentChangedError' },
    },
    {
      name: 'lying deep store',
      err: new DeepStoreVerifyError('s3://b/k', 'size'),
      expected: { permanent: false, reason: 'DeepStoreVerifyError' },
    },
    {
      name: 'session changed mid-attempt',
      err: new SessionChangedError('1', '2'),
      expected: { permanent: false, reason: 'SessionChangedError' },
    },
    {
      name: 'CAS kept conflicting',
      err: new CasConflictError('/x'),
      expected: { permanent: false, reason: 'CasConflictError' },
    },
    {
      name: 'an unknown error (a bug) is not retried fast',
      err: new TypeError('oops'),
      expected: { permanent: true, reason: 'TypeError' },
    },
    { name: 'a thrown non-error', err: 'string', expected: { permanent: true, reason: 'Unknown' } },
  ])('$name', ({ err, expected }) => {
    expect(classifyFailure(err)).toEqual(expected);
  });
});
