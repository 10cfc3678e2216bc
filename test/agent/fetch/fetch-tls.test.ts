import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';
import { useSeededCluster } from '../../helpers/pinot-cluster.js';
import { startSecureTestServer, type SecureTestServer } from '../../helpers/secure-app.js';
import { buildSegment } from '../../helpers/segment-builder.js';
import { createCa, type CertAuthority, type Pair } from '../../helpers/tls-certs.js';
import { digestTree } from '../../helpers/tree.js';

/**
 * `fetch` and `status` against a sidecar that requires mutual TLS and a token: real certificates from openssl, the
 * sidecar's real listeners on loopback, a real ZooKeeper seeded like a Pinot cluster.
 */
const TABLE = 'tlsTbl_REALTIME';
const SEG = 'tlsTbl__0__1__20240101T0000Z';
const TOKEN = 'fetch-token-0123456789';

const pinot = useSeededCluster('fetch-tls', { setup: (seed) => seed.addTable(TABLE) });
let root: string;
let ca: CertAuthority;
let client: Pair;
let sidecar: SecureTestServer;
let tokenFile: string;
let crc: number;
let segDir: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'fetch-tls-'));
  const dataDir = path.join(root, 'data');
  const seg = await buildSegment(path.join(dataDir, TABLE), { name: SEG, layout: 'v3', payloadBytes: 200_000 });
  crc = seg.crc;
  segDir = seg.dir;
  ca = createCa('ca', root);
  client = ca.client('operator');
  const server = ca.server('sidecar');
  await mkdir(path.join(root, 'secrets'));
  tokenFile = path.join(root, 'secrets', 'token');
  await writeFile(tokenFile, `${TOKEN}\n`);
  sidecar = await startSecureTestServer(dataDir, {
    tlsCertFile: server.cert,
    tlsKeyFile: server.key,
    tlsClientCaFile: ca.cert,
    downloadTokenFile: tokenFile,
    routes: [(a) => a.get('/repair/status', (c) => c.json({ segments: [], totals: {} }))],
  });
  await pinot.seed.addInstance('Server_tls_0', { adminPort: 1 });
  await pinot.seed.setExternalView(TABLE, { [SEG]: { Server_tls_0: 'ONLINE' } });
  await pinot.seed.putSegment(TABLE, SEG, { downloadUrl: '', crc: String(crc) });
});

afterAll(async () => {
  await sidecar?.close();
  await rm(root, { recursive: true, force: true });
});

const tlsArgs = () => ['--ca-file', ca.cert, '--client-cert-file', client.cert, '--client-key-file', client.key];

function fetchCli(out: string, extra: string[]) {
  const port = String(sidecar.listeners.port);
  return runCli(
    ['fetch', TABLE, SEG, '--out', out, '--peer-scheme', 'https', '--peer-port', port, '--attempts', '1', ...extra],
    { PINOT_SIDECAR_ZK: inject('zkConnectString'), PINOT_SIDECAR_CLUSTER: pinot.cluster },
  );
}

describe('fetch over mutual TLS', () => {
  it("downloads from the peer's sidecar with the CA, the client pair and the token; verifies the CRC", async () => {
    const out = path.join(root, 'out-ok');
    const r = await fetchCli(out, [...tlsArgs(), '--token-file', tokenFile]);
    expect(r.stdout).toContain(`from peer Server_tls_0 sidecar https://127.0.0.1:${sidecar.listeners.port}/segments/`);
    expect(r.code).toBe(0);
    expect(await readdir(out)).toEqual([SEG]);
    expect(await digestTree(path.join(out, SEG))).toEqual(await digestTree(segDir));
  });

  it('fails the sidecar source without a client certificate, and without the CA', async () => {
    const noCert = await fetchCli(path.join(root, 'out-nocert'), ['--ca-file', ca.cert, '--token-file', tokenFile]);
    expect(noCert.code).toBe(1);
    expect(noCert.stderr).toMatch(/sidecar https:\/\/127\.0\.0\.1:\d+\/segments\/\S+: cannot download/);
    const noCa = await fetchCli(path.join(root, 'out-noca'), [
      '--client-cert-file',
      client.cert,
      '--client-key-file',
      client.key,
      '--token-file',
      tokenFile,
    ]);
    expect(noCa.code).toBe(1);
    expect(noCa.stderr).toMatch(/certificate/i);
  });

  it('a client certificate without its key is a usage error (exit 2)', async () => {
    const r = await fetchCli(path.join(root, 'out-half'), ['--client-cert-file', client.cert]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--client-cert-file and --client-key-file go together');
  });
});

describe('status over mutual TLS', () => {
  it('asks an https sidecar with the CA, the client pair and the (download) token', async () => {
    const url = `https://127.0.0.1:${sidecar.listeners.port}`;
    const ok = await runCli(['status', '--url', url, ...tlsArgs(), '--token-file', tokenFile]);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toMatch(/^READY/);
    expect(ok.code).toBe(0);
    const noToken = await runCli(['status', '--url', url, ...tlsArgs()]);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain('answered 401');
    const noCert = await runCli(['status', '--url', url, '--ca-file', ca.cert, '--token-file', tokenFile]);
    expect(noCert.code).toBe(2);
  });
});
