import { copyFile, mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSecurity, type Listeners } from '../../../src/agent/http/listeners.js';
import { registerRepairRoutes } from '../../../src/agent/http/repair-routes.js';
import type { Metrics } from '../../../src/agent/metrics.js';
import { captureLogs, type CapturedLogs } from '../../helpers/log-capture.js';
import { startSecureTestServer } from '../../helpers/secure-app.js';
import { buildSegment } from '../../helpers/segment-builder.js';
import { createCa, type CertAuthority, type Pair } from '../../helpers/tls-certs.js';

const RT = 'events_REALTIME';
const SEG = 'events__0__1__20240101T0000Z';
const BIG = 'events__9__9__20240101T0000Z';
const DOWNLOAD_TOKEN = 'dl-0123456789abcdef';
const ADMIN_TOKEN = 'adm-fedcba9876543210';

let root: string;
let dataDir: string;
let ca: CertAuthority;
let otherCa: CertAuthority;
const opened: Listeners[] = [];
const logs: CapturedLogs[] = [];

interface Answer {
  status: number;
  body: Buffer;
  /** SHA-256 fingerprint of the certificate the server presented. */
  fingerprint: string;
}

interface ClientTls {
  ca?: string;
  client?: Pair;
  maxVersion?: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
}

function tlsOptions(t: ClientTls): https.RequestOptions {
  return {
    ...(t.ca ? { ca: readFileSync(t.ca) } : {}),
    ...(t.client ? { cert: readFileSync(t.client.cert), key: readFileSync(t.client.key) } : {}),
    ...(t.maxVersion ? { maxVersion: t.maxVersion } : {}),
  };
}

/** One HTTPS request on a fresh connection; rejects with the handshake's error. */
function request(
  port: number,
  target: string,
  t: ClientTls,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: target,
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        agent: false,
        ...tlsOptions(t),
      },
      (res) => {
        const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), fingerprint }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function plainGet(port: number, target: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${target}`);
  return { status: res.status, text: await res.text() };
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * A directory laid out like a Kubernetes Secret volume: the files are symlinks through `..data`, which points at a
 * timestamped directory; an update writes a new one and swaps `..data` with one rename (what cert-manager's
 * Secret goes through in the kubelet).
 */
class SecretDir {
  private generation = 0;
  constructor(readonly dir: string) {}

  file(name: string): string {
    return path.join(this.dir, name);
  }

  async write(files: Record<string, string>): Promise<void> {
    const gen = path.join(this.dir, `..gen${++this.generation}`);
    await mkdir(gen, { recursive: true });
    for (const [name, source] of Object.entries(files)) await copyFile(source, path.join(gen, name));
    await symlink(path.basename(gen), path.join(this.dir, '..data_tmp'));
    await rename(path.join(this.dir, '..data_tmp'), path.join(this.dir, '..data'));
    for (const name of Object.keys(files)) {
      await symlink(path.join('..data', name), path.join(this.dir, `${name}.tmp`)).catch(() => undefined);
      await rename(path.join(this.dir, `${name}.tmp`), path.join(this.dir, name));
    }
  }
}

async function secretDir(name: string, files: Record<string, string>): Promise<SecretDir> {
  const s = new SecretDir(path.join(root, name));
  await mkdir(s.dir, { recursive: true });
  await s.write(files);
  return s;
}

async function start(
  config: Parameters<typeof startSecureTestServer>[1],
): Promise<{ listeners: Listeners; logs: CapturedLogs; metrics: Metrics }> {
  const server = await startSecureTestServer(dataDir, {
    routes: [(a, captured) => registerRepairRoutes(a, undefined, captured.logger)],
    ...config,
  });
  opened.push(server.listeners);
  logs.push(server.logs);
  return server;
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'sidecar-tls-'));
  dataDir = path.join(root, 'data');
  await buildSegment(path.join(dataDir, RT), { name: SEG, payloadBytes: 10_000 });
  await buildSegment(path.join(dataDir, RT), { name: BIG, payloadBytes: 24 * 1024 * 1024, payloadKind: 'random' });
  ca = createCa('ca-a', root);
  otherCa = createCa('ca-b', root);
});

afterAll(async () => {
  await Promise.all(opened.map((l) => l.close(1_000)));
  // No secret in any line any listener logged: no token, no key.
  const secrets = [DOWNLOAD_TOKEN, ADMIN_TOKEN, 'rotated-token-xyz', 'PRIVATE KEY'];
  for (const captured of logs) {
    const text = captured.lines.map((l) => JSON.stringify(l)).join('\n');
    for (const secret of secrets) expect(text).not.toContain(secret);
  }
  await rm(root, { recursive: true, force: true });
});

describe('HTTPS', () => {
  it('serves over TLS to a client trusting the CA; refuses a client that does not, and TLS 1.1', async () => {
    const pair = ca.server('https-basic');
    const { listeners, metrics } = await start({ tlsCertFile: pair.cert, tlsKeyFile: pair.key });
    const ok = await request(listeners.port, `/segments/${RT}/${SEG}`, { ca: ca.cert });
    expect(ok.status).toBe(200);
    expect(gunzipSync(ok.body).length).toBeGreaterThan(10_000);
    await expect(request(listeners.port, '/health/live', { ca: otherCa.cert })).rejects.toThrow(
      /unable to verify|self.signed|certificate/i,
    );
    await expect(request(listeners.port, '/health/live', { ca: ca.cert, maxVersion: 'TLSv1.1' })).rejects.toThrow();
    // Plain HTTP on the TLS port gets nothing useful.
    await expect(plainGet(listeners.port, '/health/live')).rejects.toThrow();
    const expiry = (
      await metrics.registry.getSingleMetric('pinot_sidecar_tls_certificate_expiry_timestamp_seconds')?.get()
    )?.values[0]?.value;
    expect(expiry).toBeGreaterThan(Date.now() / 1000 + 9 * 86_400);
  });

  it("refuses to start with a key that is not the certificate's, naming both files", async () => {
    const a = ca.server('mismatch-a');
    const b = ca.server('mismatch-b');
    await expect(readSecurity({ tlsCertFile: a.cert, tlsKeyFile: b.key }, captureLogs().logger)).rejects.toThrow(
      /does not belong to the certificate/,
    );
  });
});

describe('mutual TLS', () => {
  let listeners: Listeners;
  beforeAll(async () => {
    const pair = ca.server('mtls');
    ({ listeners } = await start({
      tlsCertFile: pair.cert,
      tlsKeyFile: pair.key,
      tlsClientCaFile: ca.cert,
      tlsClientAllow: ['pinot-server-0', 'minion-0.clients.test'],
      httpPort: 0,
    }));
  });

  it('accepts a client certificate the CA signed whose CN or SAN is allowed', async () => {
    expect(
      (await request(listeners.port, '/health/live', { ca: ca.cert, client: ca.client('pinot-server-0') })).status,
    ).toBe(200);
    expect((await request(listeners.port, '/health/live', { ca: ca.cert, client: ca.client('minion-0') })).status).toBe(
      200,
    );
  });

  it("refuses the handshake without a client certificate, with another CA's, or with an expired one", async () => {
    await expect(request(listeners.port, '/health/live', { ca: ca.cert })).rejects.toThrow();
    await expect(
      request(listeners.port, '/health/live', { ca: ca.cert, client: otherCa.client('pinot-server-0') }),
    ).rejects.toThrow();
    await expect(
      request(listeners.port, '/health/live', { ca: ca.cert, client: ca.client('pinot-server-0', { expired: true }) }),
    ).rejects.toThrow();
  });

  it('answers 403 to a signed certificate not on the allow-list, naming it', async () => {
    const r = await request(listeners.port, '/health/live', { ca: ca.cert, client: ca.client('intruder') });
    expect(r.status).toBe(403);
    expect(r.body.toString()).toContain('intruder');
  });

  it('answers probes and metrics on the plain port, and nothing else there', async () => {
    const probe = listeners.probePort!;
    expect((await plainGet(probe, '/health/live')).status).toBe(200);
    expect((await plainGet(probe, '/health/ready')).status).toBe(200);
    const metrics = await plainGet(probe, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/^pinot_sidecar_tls_certificate_expiry_timestamp_seconds \d/m);
    expect((await plainGet(probe, `/segments/${RT}/${SEG}`)).status).toBe(404);
    expect((await plainGet(probe, '/repair/status')).status).toBe(404);
  });
});

describe('certificate rotation', () => {
  it('a download in flight finishes on the old certificate; new connections get the new one', async () => {
    const first = ca.server('rot-1');
    const second = ca.server('rot-2');
    const secret = await secretDir('rotation', { 'tls.crt': first.cert, 'tls.key': first.key });
    const { listeners, logs: captured } = await start({
      tlsCertFile: secret.file('tls.crt'),
      tlsKeyFile: secret.file('tls.key'),
    });
    const before = await request(listeners.port, '/health/live', { ca: ca.cert });

    // Start the big download and stop reading after its first bytes.
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = https.get(
        {
          host: '127.0.0.1',
          port: listeners.port,
          path: `/segments/${RT}/${BIG}`,
          agent: false,
          ca: readFileSync(ca.cert),
        },
        resolve,
      );
      req.on('error', reject);
    });
    const chunks: Buffer[] = [];
    const firstChunk = new Promise<void>((resolve) =>
      response.once('data', (c: Buffer) => {
        chunks.push(c);
        response.pause();
        resolve();
      }),
    );
    await firstChunk;
    const oldFingerprint = (response.socket as TLSSocket).getPeerCertificate().fingerprint256;
    expect(oldFingerprint).toBe(before.fingerprint);

    await secret.write({ 'tls.crt': second.cert, 'tls.key': second.key });
    await waitFor(
      'the new certificate on new connections',
      async () => (await request(listeners.port, '/health/live', { ca: ca.cert })).fingerprint !== before.fingerprint,
    );
    expect(captured.matching('TLS certificate reloaded')).toHaveLength(1);

    // The download resumes and ends complete, still on its old session.
    const done = new Promise<void>((resolve, reject) => {
      response.on('data', (c: Buffer) => chunks.push(c));
      response.on('end', resolve);
      response.on('error', reject);
    });
    response.resume();
    await done;
    expect(response.complete).toBe(true);
    expect(gunzipSync(Buffer.concat(chunks)).length).toBeGreaterThan(24 * 1024 * 1024);
  });

  it('a bad new pair keeps the old certificate and logs one clear error', async () => {
    const good = ca.server('bad-1');
    const other = ca.server('bad-2');
    const secret = await secretDir('bad-rotation', { 'tls.crt': good.cert, 'tls.key': good.key });
    const { listeners, logs: captured } = await start({
      tlsCertFile: secret.file('tls.crt'),
      tlsKeyFile: secret.file('tls.key'),
    });
    const before = await request(listeners.port, '/health/live', { ca: ca.cert });
    await secret.write({ 'tls.crt': other.cert, 'tls.key': good.key });
    await waitFor(
      'the reload error',
      () => captured.matching('new TLS certificate not usable; keeping the one in use').length > 0,
    );
    const failed = captured.matching('new TLS certificate not usable; keeping the one in use');
    expect(failed).toHaveLength(1);
    expect(String(failed[0]!.err)).toMatch(/does not belong to the certificate/);
    expect((await request(listeners.port, '/health/live', { ca: ca.cert })).fingerprint).toBe(before.fingerprint);
  });
});

describe('scoped tokens', () => {
  let listeners: Listeners;
  let tokenDir: SecretDir;
  beforeAll(async () => {
    const pair = ca.server('tokens');
    await writeFile(path.join(root, 'dl.src'), `${DOWNLOAD_TOKEN}\n`);
    await writeFile(path.join(root, 'adm.src'), `${ADMIN_TOKEN}\n`);
    tokenDir = await secretDir('tokens', { download: path.join(root, 'dl.src'), admin: path.join(root, 'adm.src') });
    ({ listeners } = await start({
      tlsCertFile: pair.cert,
      tlsKeyFile: pair.key,
      downloadTokenFile: tokenDir.file('download'),
      adminTokenFile: tokenDir.file('admin'),
    }));
  });
  const bearer = (t: string) => ({ headers: { Authorization: `Bearer ${t}` } });
  const get = (target: string, o = {}) => request(listeners.port, target, { ca: ca.cert }, o);

  it('401 without a token or with a wrong one; the download token downloads; health stays open', async () => {
    expect((await get(`/segments/${RT}/${SEG}`)).status).toBe(401);
    expect((await get(`/segments/${RT}/${SEG}`, bearer('nope'))).status).toBe(401);
    expect((await get(`/segments/${RT}/${SEG}`, bearer(DOWNLOAD_TOKEN))).status).toBe(200);
    expect((await get(`/segments/${RT}/${SEG}`, bearer(ADMIN_TOKEN))).status).toBe(200);
    expect((await get('/health/ready')).status).toBe(200);
  });

  it('a download token cannot trigger a repair run (403); the admin token can (repair off: 404)', async () => {
    const post = (o: object) => get('/repair/run', { method: 'POST', ...o });
    expect((await post(bearer(DOWNLOAD_TOKEN))).status).toBe(403);
    expect((await post({})).status).toBe(401);
    expect((await post(bearer('nope'))).status).toBe(401);
    expect((await post(bearer(ADMIN_TOKEN))).status).toBe(404);
  });

  it("accepts the header a Pinot server's segment fetcher sends (Basic, the token as password)", async () => {
    const basic = (user: string, pass: string) => ({
      headers: { Authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` },
    });
    expect((await get(`/segments/${RT}/${SEG}`, basic('pinot-server', DOWNLOAD_TOKEN))).status).toBe(200);
    expect((await get(`/segments/${RT}/${SEG}`, basic('pinot-server', 'wrong'))).status).toBe(401);
  });

  it('a rotated token file is in force without a restart', async () => {
    await writeFile(path.join(root, 'dl2.src'), 'rotated-token-xyz\n');
    await tokenDir.write({ download: path.join(root, 'dl2.src'), admin: path.join(root, 'adm.src') });
    await waitFor(
      'the rotated token',
      async () => (await get(`/segments/${RT}/${SEG}`, bearer('rotated-token-xyz'))).status === 200,
    );
    expect((await get(`/segments/${RT}/${SEG}`, bearer(DOWNLOAD_TOKEN))).status).toBe(401);
  });
});
