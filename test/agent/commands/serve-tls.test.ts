import { mkdtemp, rm } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { spawnCli, type CliProcess } from '../../helpers/cli.js';
import { useSeededCluster } from '../../helpers/pinot-cluster.js';
import { buildSegment } from '../../helpers/segment-builder.js';
import { createCa, type CertAuthority, type Pair } from '../../helpers/tls-certs.js';
import { freePort } from '../../helpers/zookeeper-server.js';

/**
 * `serve` as a real process with TLS (issue 17): the main port speaks HTTPS and requires client certificates, the
 * plain --http-port answers the probes and /metrics only, a segment downloads over mutual TLS, and the key never
 * reaches the log.
 */
const RT = 'events_REALTIME';
const SEG = 'events__0__1__20240101T0000Z';
const INSTANCE = 'Server_tls-serve_8098';

const pinot = useSeededCluster('serve-tls', {
  setup: async (seed) => {
    const live = await seed.addInstance(INSTANCE);
    await seed.addTable(RT);
    await seed.putSegment(RT, SEG, { downloadUrl: 's3://b/x' });
    await seed.setCurrentState(INSTANCE, live, RT, { [SEG]: 'ONLINE' });
  },
});

let root: string;
let ca: CertAuthority;
let client: Pair;
let server: Pair;
let port: number;
let httpPort: number;
let sidecar: CliProcess;

function get(url: string, options: https.RequestOptions = {}): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca: readFileSync(ca.cert), ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'serve-tls-'));
  await buildSegment(path.join(root, 'data', RT), { name: SEG, payloadBytes: 100_000 });
  ca = createCa('ca', root);
  server = ca.server('sidecar');
  client = ca.client('pinot-server');
  port = await freePort();
  httpPort = await freePort();
  sidecar = spawnCli(
    [
      'serve',
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--http-port',
      String(httpPort),
      '--tls-client-ca-file',
      ca.cert,
    ],
    {
      PINOT_SIDECAR_ZK: inject('zkConnectString'),
      PINOT_SIDECAR_CLUSTER: pinot.seed.cluster,
      PINOT_SIDECAR_INSTANCE: INSTANCE,
      PINOT_SIDECAR_DATA_DIR: path.join(root, 'data'),
      PINOT_SIDECAR_TLS_CERT_FILE: server.cert,
      PINOT_SIDECAR_TLS_KEY_FILE: server.key,
    },
  );
  await vi.waitFor(
    async () =>
      expect((await fetch(`http://127.0.0.1:${httpPort}/health/ready`)).status, sidecar.output().slice(-1500)).toBe(
        200,
      ),
    { timeout: 30_000, interval: 100 },
  );
});

afterAll(async () => {
  sidecar?.child.kill('SIGTERM');
  await sidecar?.exited;
  await rm(root, { recursive: true, force: true });
});

describe('serve with TLS and client certificates (real process)', () => {
  it('serves a segment over mutual TLS, byte for byte a gzip stream', async () => {
    const res = await get(`https://127.0.0.1:${port}/segments/${RT}/${SEG}`, {
      cert: readFileSync(client.cert),
      key: readFileSync(client.key),
    });
    expect(res.status).toBe(200);
    expect(res.body.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
  });

  it('refuses a client without a certificate at the handshake', async () => {
    await expect(get(`https://127.0.0.1:${port}/health/live`)).rejects.toThrow();
  });

  it('answers probes and /metrics on the plain port, and nothing else there', async () => {
    expect((await fetch(`http://127.0.0.1:${httpPort}/health/live`)).status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    expect(metrics).toMatch(/^pinot_sidecar_tls_certificate_expiry_timestamp_seconds \d+/m);
    expect((await fetch(`http://127.0.0.1:${httpPort}/segments/${RT}/${SEG}`)).status).toBe(404);
  });

  it('never logs the key', () => {
    const key = readFileSync(server.key, 'utf8').split('\n')[1]!;
    expect(key.length).toBeGreaterThan(20);
    expect(sidecar.output()).not.toContain(key);
  });
});
