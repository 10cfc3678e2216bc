import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { PROBE_FOLDER } from '../../src/deepstore/probe.js';
import { faults } from '../helpers/fault-proxy.js';
import { useProxiedS3 } from '../helpers/proxied-s3.js';
import { rejection, uniqueName } from './support.js';

/**
 * S3DeepStore.probe() against the S3 fake over real HTTP behind the fault proxy (issue 12, "deep store
 * unusable"): which requests each mode makes, and that a missing bucket, refused permissions, a closed port and
 * a store that serves other bytes than it accepted are each reported with the step and an actionable cause.
 */
const s3 = useProxiedS3();

async function keysIn(bucket: string): Promise<string[]> {
  const listed = await s3.fake.client.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (listed.Contents ?? []).map((o) => o.Key ?? '');
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('S3DeepStore.probe on a usable store', () => {
  it('write: PutObject, GetObject, DeleteObject of <prefix>/.pinot-sidecar.probe/<name>; up; nothing left', async () => {
    const { store, bucket } = await s3.newStore();
    const result = await store.probe('write', { name: 'Server_pinot-server-0_8098' });
    const key = `pinot/data/${PROBE_FOLDER}/Server_pinot-server-0_8098`;
    expect(result).toEqual({ ok: true, mode: 'write', uri: `s3://${bucket}/${key}` });
    expect(s3.proxy.log.map((r) => [r.op, r.url.split('?')[0], r.status])).toEqual([
      ['PutObject', `/${bucket}/${key}`, 200],
      ['GetObject', `/${bucket}/${key}`, 200],
      ['DeleteObject', `/${bucket}/${key}`, 204],
    ]);
    expect(await keysIn(bucket)).toEqual([]);
  });

  it('write at the bucket root: .pinot-sidecar.probe/<random name, one per store>', async () => {
    const { store, bucket } = await s3.newStore({ prefix: '' });
    const first = await store.probe('write');
    expect(first.uri).toMatch(new RegExp(`^s3://${bucket}/\\.pinot-sidecar\\.probe/[0-9a-f-]{36}$`));
    expect((await store.probe('write')).uri).toBe(first.uri);
  });

  it('read: ListObjectsV2 of one key under the prefix, then HeadObject of the probe key (404 expected); writes nothing', async () => {
    const { store, bucket } = await s3.newStore();
    expect(await store.probe('read', { name: 'me' })).toEqual({
      ok: true,
      mode: 'read',
      uri: `s3://${bucket}/pinot/data/${PROBE_FOLDER}/me`,
    });
    expect(s3.proxy.log.map((r) => [r.op, r.status])).toEqual([
      ['ListObjects', 200],
      ['HeadObject', 404],
    ]);
    const list = s3.proxy.log[0]!.query;
    expect([list.get('list-type'), list.get('prefix'), list.get('max-keys')]).toEqual(['2', 'pinot/data/', '1']);
  });

  it('an abort mid-request rejects with the reason', async () => {
    const { store } = await s3.newStore();
    s3.proxy.inject('PutObject', faults.delay(10_000));
    const controller = new AbortController();
    const reason = new Error('stopping');
    const stop = s3.proxy.observe({ request: () => controller.abort(reason) });
    try {
      expect(await rejection(store.probe('write', { signal: controller.signal }))).toBe(reason);
    } finally {
      stop();
    }
  });
});

describe('S3DeepStore.probe on an unusable store', () => {
  it.each(['write', 'read'] as const)(
    '%s: a bucket that does not exist is NoSuchBucket, permanent, and says so',
    async (mode) => {
      const bucket = uniqueName('missing');
      const { store } = await s3.newStore({ bucket });
      const result = await store.probe(mode);
      expect(result).toMatchObject({
        ok: false,
        mode,
        step: mode === 'write' ? 'write' : 'list',
        error: { code: 'NoSuchBucket', retriable: false, httpStatus: 404 },
      });
      expect(!result.ok && result.error.message).toMatch(
        new RegExp(
          `^deep-store ${mode} probe failed at (write|list): the bucket ${bucket} does not exist \\(a typo in the deep-store URI, or another account or region\\): S3 probe`,
        ),
      );
    },
  );

  it('403 AccessDenied on put: down at write, names s3:PutObject; nothing stored, nothing else tried', async () => {
    const { store, bucket } = await s3.newStore();
    s3.proxy.inject('PutObject', faults.accessDenied());
    const result = await store.probe('write');
    expect(result).toMatchObject({
      ok: false,
      step: 'write',
      error: { code: 'AccessDenied', retriable: false, httpStatus: 403 },
    });
    expect(!result.ok && result.error.message).toContain(
      'access denied: the credentials in use may not write here (the bucket policy or IAM role needs s3:PutObject on the bucket',
    );
    expect(s3.proxy.log.map((r) => r.op)).toEqual(['PutObject']);
    expect(await keysIn(bucket)).toEqual([]);
  });

  it.each([
    ['InvalidAccessKeyId', 'the access key id is unknown to the store'],
    ['SignatureDoesNotMatch', 'the secret key does not match the access key id'],
  ])('403 %s on put: down, permanent, says %j', async (code, hint) => {
    const { store } = await s3.newStore();
    s3.proxy.inject('PutObject', faults.error(403, code));
    const result = await store.probe('write');
    expect(result).toMatchObject({ ok: false, step: 'write', error: { code, retriable: false } });
    expect(!result.ok && result.error.message).toContain(hint);
  });

  it('read: 403 on the list names s3:ListBucket; 403 on the HEAD (no body: Forbidden) names s3:GetObject', async () => {
    const { store } = await s3.newStore();
    s3.proxy.inject('ListObjects', faults.accessDenied());
    const listed = await store.probe('read');
    expect(listed).toMatchObject({ ok: false, step: 'list', error: { code: 'AccessDenied' } });
    expect(!listed.ok && listed.error.message).toContain('needs s3:ListBucket');

    s3.proxy.inject('HeadObject', faults.accessDenied());
    const headed = await store.probe('read');
    expect(headed).toMatchObject({ ok: false, step: 'head', error: { code: 'Forbidden', httpStatus: 403 } });
    expect(!headed.ok && headed.error.message).toContain('needs s3:GetObject');
  });

  it('a wrong endpoint (a closed port): down at write, "cannot reach <endpoint>", retriable', async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    const { store } = await s3.newStore({ endpoint });
    const result = await store.probe('write');
    expect(result).toMatchObject({ ok: false, step: 'write', error: { code: 'ECONNREFUSED', retriable: true } });
    expect(!result.ok && result.error.message).toMatch(
      new RegExp(
        `^deep-store write probe failed at write: cannot reach ${endpoint}: S3 probe write s3://.+ failed: ECONNREFUSED`,
      ),
    );
    expect((await store.probe('read')).ok).toBe(false);
  });

  it('a store that answers 200 to the put and serves other bytes: down at compare (ProbeMismatch), and the object is removed', async () => {
    const { store, bucket } = await s3.newStore();
    s3.proxy.inject('GetObject', faults.replaceBody(Buffer.from('not what was written\n')));
    const result = await store.probe('write', { name: 'me' });
    expect(result).toMatchObject({ ok: false, step: 'compare', error: { code: 'ProbeMismatch', retriable: false } });
    expect(!result.ok && result.error.message).toMatch(
      /accepted the probe object s3:\/\/.+\/me \(\d+ bytes\) but returned other bytes \(21\) when it was read back/,
    );
    expect(s3.proxy.log.map((r) => [r.op, r.status])).toEqual([
      ['PutObject', 200],
      ['GetObject', 200],
      ['DeleteObject', 204],
    ]);
    expect(await keysIn(bucket)).toEqual([]);
  });
});

describe('S3DeepStore.probe when the delete is refused (a policy with put but not delete)', () => {
  it('up, with a warning at delete naming s3:DeleteObject; the object stays at its one key and the next probe overwrites it', async () => {
    const { store, bucket } = await s3.newStore();
    s3.proxy.inject('DeleteObject', faults.accessDenied(), { times: 2 });
    const first = await store.probe('write', { name: 'me' });
    expect(first).toMatchObject({ ok: true, warning: { step: 'delete', error: { code: 'AccessDenied' } } });
    expect(first.ok && first.warning?.error.message).toContain('needs s3:DeleteObject');
    const key = `pinot/data/${PROBE_FOLDER}/me`;
    expect(await keysIn(bucket)).toEqual([key]);
    const stored = await s3.fake.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const firstBody = await stored.Body!.transformToString();

    expect(await store.probe('write', { name: 'me' })).toMatchObject({ ok: true, warning: { step: 'delete' } });
    expect(await keysIn(bucket)).toEqual([key]);
    const again = await s3.fake.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect(await again.Body!.transformToString()).not.toBe(firstBody);
  });
});
