import { describe, expect, it } from 'vitest';
import { DeepStoreError } from '../../src/deepstore/errors.js';
import {
  probeBody,
  probeFailure,
  probeHint,
  probeMismatch,
  probeObjectName,
  runProbe,
  type ProbeStep,
} from '../../src/deepstore/probe.js';
import { rejection } from './support.js';

/** The probe's pure parts: the object's name, what each failure tells an operator, how steps become a result. */

describe('probeObjectName', () => {
  it.each([
    ['Server_pinot-server-0_8098', 'Server_pinot-server-0_8098'],
    ['Server_10.0.0.7_8098', 'Server_10_0_0_7_8098'],
    ['../../etc/passwd', 'etc_passwd'],
    ['a/b:c d', 'a_b_c_d'],
    ['..', ''],
    ['', ''],
    ['x'.repeat(300), 'x'.repeat(128)],
  ])('%j → %j', (name, expected) => {
    expect(probeObjectName(name)).toBe(expected);
  });
});

describe('probeBody', () => {
  it('is a readable line that differs every time', () => {
    const a = probeBody(Date.UTC(2026, 0, 2));
    expect(a.toString()).toMatch(/^pinot-sidecar deep-store probe 2026-01-02T00:00:00\.000Z [0-9a-f]{32}\n$/);
    expect(probeBody(Date.UTC(2026, 0, 2)).equals(a)).toBe(false);
  });
});

const S3 = { endpoint: 'http://minio:9000', bucket: 'deep' };
const FILE = { folder: '/mnt/deep' };

describe('probeHint: what each failure tells an operator to check', () => {
  it.each<[string, ProbeStep, object, string | undefined]>([
    ['ECONNREFUSED', 'write', S3, 'cannot reach http://minio:9000'],
    ['ENOTFOUND', 'list', S3, 'cannot reach http://minio:9000'],
    ['TimeoutError', 'read', S3, 'cannot reach http://minio:9000'],
    [
      'NoSuchBucket',
      'write',
      S3,
      'the bucket deep does not exist (a typo in the deep-store URI, or another account or region)',
    ],
    [
      'AccessDenied',
      'write',
      S3,
      'access denied: the credentials in use may not write here (the bucket policy or IAM role needs s3:PutObject on the bucket deep and the prefix)',
    ],
    [
      'Forbidden',
      'head',
      S3,
      'access denied: the credentials in use may not head here (the bucket policy or IAM role needs s3:GetObject on the bucket deep and the prefix)',
    ],
    [
      'AccessDenied',
      'list',
      S3,
      'access denied: the credentials in use may not list here (the bucket policy or IAM role needs s3:ListBucket on the bucket deep and the prefix)',
    ],
    [
      'AccessDenied',
      'delete',
      S3,
      'access denied: the credentials in use may not delete here (the bucket policy or IAM role needs s3:DeleteObject on the bucket deep and the prefix)',
    ],
    ['InvalidAccessKeyId', 'write', S3, 'the access key id is unknown to the store (wrong or deleted credentials)'],
    ['SignatureDoesNotMatch', 'write', S3, 'the secret key does not match the access key id'],
    [
      'CredentialsProviderError',
      'list',
      S3,
      'no credentials found (environment, profile, web identity or instance role)',
    ],
    ['PermanentRedirect', 'list', S3, 'the bucket deep is in another region than the one configured'],
    [
      'EROFS',
      'write',
      FILE,
      'the deep-store folder /mnt/deep is on a read-only file system: repair cannot upload there',
    ],
    ['EACCES', 'write', FILE, "permission denied: the sidecar's user may not write in the deep-store folder /mnt/deep"],
    ['EACCES', 'list', FILE, "permission denied: the sidecar's user may not list in the deep-store folder /mnt/deep"],
    ['NoSpace', 'write', FILE, undefined],
    ['DeepStoreFolderMissing', 'folder', FILE, undefined],
    ['ProbeMismatch', 'compare', S3, undefined],
    ['InternalError', 'write', S3, undefined],
  ])('%s at %s', (code, step, target, expected) => {
    expect(probeHint(code, step, target)).toBe(expected);
  });
});

describe('probeFailure', () => {
  it('restates the error with mode, step and hint, keeping code, retriable, status and the original as cause', () => {
    const original = new DeepStoreError(
      'S3 probe write s3://deep/p/x failed: ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1',
      { code: 'ECONNREFUSED', retriable: true },
    );
    const restated = probeFailure('write', 'write', original, S3);
    expect(restated.message).toBe(
      'deep-store write probe failed at write: cannot reach http://minio:9000: S3 probe write s3://deep/p/x failed: ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1',
    );
    expect(restated).toMatchObject({ code: 'ECONNREFUSED', retriable: true, cause: original });
  });

  it("without a hint, the store's own words follow the step", () => {
    const original = new DeepStoreError('file probe failed: the deep store is full: ENOSPC: no space left', {
      code: 'NoSpace',
      retriable: true,
      httpStatus: 507,
    });
    expect(probeFailure('write', 'write', original, FILE)).toMatchObject({
      message:
        'deep-store write probe failed at write: file probe failed: the deep store is full: ENOSPC: no space left',
      code: 'NoSpace',
      httpStatus: 507,
    });
  });
});

describe('probeMismatch', () => {
  it('says the store gave back other bytes, and how many; permanent', () => {
    const err = probeMismatch('s3://b/k', Buffer.from('abcd'), Buffer.from('xyz'), { truncated: false });
    expect(err).toMatchObject({ code: 'ProbeMismatch', retriable: false });
    expect(err.message).toContain('accepted the probe object s3://b/k (4 bytes) but returned other bytes (3)');
    expect(probeMismatch('s3://b/k', Buffer.from('abcd'), Buffer.alloc(10), { truncated: true }).message).toContain(
      '(more than 10)',
    );
  });
});

describe('runProbe', () => {
  const context = (signal?: AbortSignal) => ({
    mode: 'write' as const,
    uri: 's3://b/k',
    target: S3,
    signal,
    classify: (err: unknown) =>
      err instanceof DeepStoreError ? err : new DeepStoreError(String(err), { code: 'Unknown', retriable: false }),
  });
  const denied = new DeepStoreError('denied', { code: 'AccessDenied', retriable: false });

  it('all steps pass: ok, with the warning the steps return', async () => {
    expect(
      await runProbe(context(), async (run) => {
        await run.step('write', async () => {});
        return run.tolerate('delete', async () => Promise.reject(denied));
      }),
    ).toMatchObject({
      ok: true,
      mode: 'write',
      uri: 's3://b/k',
      warning: { step: 'delete', error: { code: 'AccessDenied' } },
    });
    expect(await runProbe(context(), async () => undefined)).toEqual({ ok: true, mode: 'write', uri: 's3://b/k' });
  });

  it('the first failing step is the answer; later steps do not run', async () => {
    const ran: string[] = [];
    const result = await runProbe(context(), async (run) => {
      await run.step('write', async () => ran.push('write'));
      await run.step('read', async () => Promise.reject(denied));
      await run.step('compare', async () => ran.push('compare'));
      return undefined;
    });
    expect(ran).toEqual(['write']);
    expect(result).toMatchObject({
      ok: false,
      step: 'read',
      error: {
        code: 'AccessDenied',
        message: expect.stringMatching(/^deep-store write probe failed at read: access denied: /),
      },
    });
  });

  it("an abort rejects with the signal's reason, not a result", async () => {
    const controller = new AbortController();
    const reason = new Error('stopping');
    const probing = runProbe(context(controller.signal), async (run) => {
      await run.step(
        'write',
        () =>
          new Promise((_, reject) =>
            controller.signal.addEventListener('abort', () => reject(new Error('socket closed'))),
          ),
      );
      return undefined;
    });
    controller.abort(reason);
    expect(await rejection(probing)).toBe(reason);
  });
});
