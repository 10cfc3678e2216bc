import { CreateMultipartUploadCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { accessKeyOf, faults, startFaultProxy, type FaultProxy, type LoggedRequest } from '../helpers/fault-proxy.js';
import { FAKE_REGION, startS3Fake, type S3Fake } from '../helpers/s3-fake.js';

/**
 * What the chaos soak adds to the fault proxy: per-rule probability from a seedable source, observers, and log
 * entries with timestamps, the client's access key and the multipart upload id; and a client that vanishes
 * mid-body leaves no request hanging at the store.
 */
let fake: S3Fake;
beforeAll(async () => {
  fake = await startS3Fake();
  await fake.createBucket('adds');
});
afterAll(async () => {
  await fake.stop();
});

function client(proxy: FaultProxy, accessKeyId = 'chaos-s1-g0'): S3Client {
  return new S3Client({
    endpoint: proxy.endpoint,
    region: FAKE_REGION,
    credentials: { accessKeyId, secretAccessKey: 'x' },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  });
}

async function headStatus(s3: S3Client, key: string): Promise<number> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: 'adds', Key: key }));
    return 200;
  } catch (err) {
    return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0;
  }
}

describe('fault proxy additions', () => {
  it('a rule with a probability applies where the draw falls below it, and counts only those', async () => {
    const draws = [0.9, 0.1, 0.7, 0.2];
    const proxy = await startFaultProxy(fake.endpoint, { random: () => draws.shift() ?? 1 });
    const s3 = client(proxy);
    try {
      const rule = proxy.inject('HeadObject', faults.slowDown(1), { times: Infinity, probability: 0.5 });
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push(await headStatus(s3, 'missing'));
      expect(statuses).toEqual([404, 503, 404, 503]);
      expect(rule.applied).toBe(2);
    } finally {
      s3.destroy();
      await proxy.stop();
    }
  });

  it('log entries carry timestamps, the access key id, and the multipart upload id from the answer', async () => {
    const proxy = await startFaultProxy(fake.endpoint);
    const s3 = client(proxy, 'chaos-s2-g1');
    try {
      await s3.send(new PutObjectCommand({ Bucket: 'adds', Key: 'k1', Body: 'x' }));
      const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'adds', Key: 'k2' }));
      const [put, create] = proxy.log as LoggedRequest[];
      expect(put).toMatchObject({ op: 'PutObject', client: 'chaos-s2-g1', uploadId: null, status: 200 });
      expect(put!.endedAt).toBeGreaterThanOrEqual(put!.answeredAt!);
      expect(put!.answeredAt).toBeGreaterThanOrEqual(put!.startedAt);
      expect(create).toMatchObject({ op: 'CreateMultipartUpload', uploadId: created.UploadId });
      expect(accessKeyOf({})).toBeNull();
    } finally {
      s3.destroy();
      await proxy.stop();
    }
  });

  it("observers see the request on arrival and the store's answer before the client does", async () => {
    const proxy = await startFaultProxy(fake.endpoint);
    const s3 = client(proxy);
    const seen: string[] = [];
    const stop = proxy.observe({
      request: (e) => seen.push(`request ${e.op} ${e.status ?? 'open'}`),
      answered: (e) => seen.push(`answered ${e.op} ${e.upstreamStatus} client=${e.status ?? 'waiting'}`),
    });
    try {
      await s3.send(new PutObjectCommand({ Bucket: 'adds', Key: 'k3', Body: 'x' }));
      stop();
      await headStatus(s3, 'k3');
      expect(seen).toEqual(['request PutObject open', 'answered PutObject 200 client=waiting']);
    } finally {
      s3.destroy();
      await proxy.stop();
    }
  });

  it('a client that goes away mid-body: the request is abandoned upstream at once, nothing is stored', async () => {
    const proxy = await startFaultProxy(fake.endpoint);
    const s3 = client(proxy);
    try {
      const { port } = new URL(proxy.endpoint);
      const req = http.request({
        host: '127.0.0.1',
        port,
        method: 'PUT',
        path: '/adds/k4',
        headers: { 'content-length': '100000' },
      });
      req.on('error', () => undefined);
      req.write(Buffer.alloc(1000));
      // The proxy has forwarded the start of the body: the store is receiving the request.
      await vi.waitFor(() => expect(proxy.log).toHaveLength(1));
      await vi.waitFor(() => expect(fake.openRequests()).toBe(1));
      req.destroy();
      // Abandoned upstream: the store is done with it (it would wait for the other 99,000 bytes).
      await vi.waitFor(() => expect(fake.openRequests()).toBe(0));
      expect(proxy.log[0]).toMatchObject({ op: 'PutObject', upstreamStatus: null });
      await vi.waitFor(() => expect(proxy.log[0]!.endedAt).not.toBeNull());
      expect(await headStatus(s3, 'k4')).toBe(404);
      // The store is not stuck on the key: a whole request through the proxy stores it.
      await s3.send(new PutObjectCommand({ Bucket: 'adds', Key: 'k4', Body: 'whole' }));
      expect(await headStatus(s3, 'k4')).toBe(200);
    } finally {
      s3.destroy();
      await proxy.stop();
    }
  });
});
