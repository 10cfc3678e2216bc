import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { parseServeConfig, ConfigError } from '../../../src/agent/config.js';
import { runCli, spawnCli, stopCli } from '../../helpers/cli.js';
import { PinotClusterSeeder, uniqueClusterName, useSeededCluster } from '../../helpers/pinot-cluster.js';
import { buildSegment } from '../../helpers/segment-builder.js';
import { freePort } from '../../helpers/zookeeper-server.js';

function problems(argv: string[], env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseServeConfig(argv, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

const minimal = ['--zk', '127.0.0.1:2181', '--cluster', 'C', '--instance', 'Server_a_8098', '--data-dir', '/data'];

/** GET /health/ready: status code and body. */
async function readyBody(port: number): Promise<{ status: number; reasons: string[]; warnings: string[] }> {
  const res = await fetch(`http://127.0.0.1:${port}/health/ready`);
  const body = (await res.json()) as { reasons: string[]; warnings: string[] };
  return { status: res.status, reasons: body.reasons, warnings: body.warnings };
}

/** One series' value from /metrics (no labels). */
async function metric(port: number, name: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

describe('serve configuration', () => {
  it('takes every option from a flag or its environment variable, flags first, with defaults', () => {
    const fromEnv = parseServeConfig([], {
      PINOT_SIDECAR_ZK: 'zk-0:2181,zk-1:2181/pinot',
      PINOT_SIDECAR_CLUSTER: 'PinotCluster',
      PINOT_SIDECAR_INSTANCE: 'Server_pinot-server-0_8098',
      PINOT_SIDECAR_DATA_DIR: '/var/pinot/server/data',
      PINOT_SIDECAR_DEEP_STORE: 's3://bucket/pinot',
      PINOT_SIDECAR_S3_PATH_STYLE: 'true',
      PINOT_SIDECAR_PORT: '9800',
    });
    expect(fromEnv).toMatchObject({
      zk: 'zk-0:2181,zk-1:2181/pinot',
      port: 9800,
      s3PathStyle: true,
      gzipLevel: 1,
      host: '0.0.0.0',
      lockRoot: '/pinot-sidecar',
    });
    expect(parseServeConfig([...minimal, '--port', '9900'], { PINOT_SIDECAR_PORT: '9800' }).port).toBe(9900);
    expect(parseServeConfig(minimal, {}).port).toBe(9700);
  });

  it('lists every problem, one line each, naming the flag and the variable', () => {
    const lines = problems(['--port', 'abc', '--gzip-level', '12', '--deep-store', 'hdfs://bucket']);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^--zk \(PINOT_SIDECAR_ZK\): required$/),
        expect.stringMatching(/^--cluster \(PINOT_SIDECAR_CLUSTER\): required$/),
        expect.stringMatching(/^--instance \(PINOT_SIDECAR_INSTANCE\): required$/),
        expect.stringMatching(/^--data-dir \(PINOT_SIDECAR_DATA_DIR\): required$/),
        expect.stringMatching(/^--port \(PINOT_SIDECAR_PORT\): /),
        expect.stringMatching(/^--gzip-level \(PINOT_SIDECAR_GZIP_LEVEL\): /),
        expect.stringMatching(
          /^--deep-store \(PINOT_SIDECAR_DEEP_STORE\): expected s3:\/\/bucket\/prefix, gs:\/\/bucket\/prefix, adl2:\/\/fileSystem\/prefix or file:\/\/\/path$/,
        ),
      ]),
    );
    expect(lines).toHaveLength(7);
  });

  it.each([
    [['--bogus-flag'], /bogus-flag/],
    [['--zk', 'host with space:2181'], /--zk/],
    [['--lock-root', 'relative/path'], /--lock-root/],
    [['--s3-endpoint', 'http://minio:9000'], /only meaningful with an s3:\/\//],
    [['--max-downloads', '0'], /--max-downloads/],
  ])('%j is refused', (extra, message) => {
    const found = problems([...minimal, ...extra]);
    expect(found.some((p) => message.test(p))).toBe(true);
  });
});

describe('pinot-sidecar serve (real process)', () => {
  let root: string;
  const instance = 'Server_serve-test_8098';
  const pinot = useSeededCluster('serve', {
    setup: async (seed) => {
      const live = await seed.addInstance(instance);
      await seed.addTable('events_REALTIME');
      await seed.putSegment('events_REALTIME', 'events__0__1__20240101T0000Z', { downloadUrl: 's3://b/x' });
      await seed.setCurrentState(instance, live, 'events_REALTIME', { events__0__1__20240101T0000Z: 'ONLINE' });
    },
  });

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'serve-'));
    await buildSegment(path.join(root, 'data', 'events_REALTIME'), { name: 'events__0__1__20240101T0000Z' });
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('exits 2 before listening on a bad configuration, printing one line per problem', async () => {
    const port = await freePort();
    const p = spawnCli(['serve', '--port', String(port), '--gzip-level', '42'], {});
    expect(await p.exited).toBe(2);
    expect(p.output()).toMatch(/invalid configuration/);
    expect(p.output()).toMatch(/--zk \(PINOT_SIDECAR_ZK\): required/);
    expect(p.output()).toMatch(/--gzip-level \(PINOT_SIDECAR_GZIP_LEVEL\)/);
  });

  it('exits 2 when the data dir or the token file is unusable', async () => {
    const { seed } = pinot;
    await writeFile(path.join(root, 'a-file'), 'not a directory');
    const bad = spawnCli([
      'serve',
      '--zk',
      inject('zkConnectString'),
      '--cluster',
      seed.cluster,
      '--instance',
      instance,
      '--data-dir',
      path.join(root, 'a-file'),
      '--port',
      '0',
    ]);
    expect(await bad.exited).toBe(2);
    expect(bad.output()).toMatch(/--data-dir \(PINOT_SIDECAR_DATA_DIR\): .* is not a readable directory/);
    await writeFile(path.join(root, 'empty-token'), '\n');
    const token = spawnCli([
      'serve',
      '--zk',
      inject('zkConnectString'),
      '--cluster',
      seed.cluster,
      '--instance',
      instance,
      '--data-dir',
      path.join(root, 'data'),
      '--port',
      '0',
      '--token-file',
      path.join(root, 'empty-token'),
    ]);
    expect(await token.exited).toBe(2);
    expect(token.output()).toMatch(/--token-file/);
  });

  it('waits for a data dir that does not exist yet (fresh volume): not ready, says why, then serves it once it appears', async () => {
    const { seed } = pinot;
    const port = await freePort();
    const later = path.join(root, 'later');
    const p = spawnCli([
      'serve',
      '--zk',
      inject('zkConnectString'),
      '--cluster',
      seed.cluster,
      '--instance',
      instance,
      '--data-dir',
      later,
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
    ]);
    try {
      await vi.waitFor(
        async () =>
          expect(await readyBody(port)).toMatchObject({
            status: 503,
            reasons: [expect.stringMatching(/^data_dir: data dir .*later does not exist yet/)],
          }),
        { timeout: 20_000, interval: 100 },
      );
      expect(await metric(port, 'pinot_sidecar_data_dir_present')).toBe(0);
      const before = await fetch(`http://127.0.0.1:${port}/tables/events/segments/events__0__1__20240101T0000Z`);
      expect(before.status).toBe(503);
      await buildSegment(path.join(later, 'events_REALTIME'), { name: 'events__0__1__20240101T0000Z' });
      // Looked at again every 10 s (DATA_DIR_CHECK_INTERVAL_MS).
      await vi.waitFor(async () => expect(await readyBody(port)).toMatchObject({ status: 200, reasons: [] }), {
        timeout: 30_000,
        interval: 200,
      });
      expect(await metric(port, 'pinot_sidecar_data_dir_present')).toBe(1);
      expect((await fetch(`http://127.0.0.1:${port}/tables/events/segments/events__0__1__20240101T0000Z`)).status).toBe(
        200,
      );
      expect(p.output()).toMatch(/data dir .*later does not exist yet/);
      expect(p.output()).toMatch(/data_dir: ok again/);
    } finally {
      await stopCli(p);
    }
  });

  it('waits for a cluster that does not exist yet (native sidecar before the controller): not ready, says why, never exits', async () => {
    const { session } = pinot;
    const port = await freePort();
    const later = new PinotClusterSeeder(session, uniqueClusterName('serve-later'));
    const p = spawnCli([
      'serve',
      '--zk',
      inject('zkConnectString'),
      '--cluster',
      later.cluster,
      '--instance',
      instance,
      '--data-dir',
      path.join(root, 'data'),
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
    ]);
    try {
      await vi.waitFor(
        async () =>
          expect(await readyBody(port)).toMatchObject({
            status: 503,
            reasons: expect.arrayContaining([
              expect.stringMatching(
                new RegExp(`^cluster: Pinot cluster "${later.cluster}" does not exist.*waiting for it`),
              ),
            ]),
          }),
        { timeout: 20_000, interval: 100 },
      );
      expect(p.child.exitCode).toBeNull();
      // The controller creates the cluster, the server joins: the sidecar follows without a restart.
      await later.createCluster();
      await later.addInstance(instance);
      await vi.waitFor(async () => expect(await readyBody(port)).toMatchObject({ status: 200, reasons: [] }), {
        timeout: 30_000,
        interval: 200,
      });
      expect(p.output()).toMatch(/cluster: ok again/);
    } finally {
      await stopCli(p);
    }
  });

  it('a wrong --instance is not ready and names the registered servers; a registered server that is down only warns', async () => {
    const { seed } = pinot;
    const port = await freePort();
    const typo = 'Server_serve-tset_8098';
    const p = spawnCli([
      'serve',
      '--zk',
      inject('zkConnectString'),
      '--cluster',
      seed.cluster,
      '--instance',
      typo,
      '--data-dir',
      path.join(root, 'data'),
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
    ]);
    try {
      await vi.waitFor(
        async () =>
          expect(await readyBody(port)).toMatchObject({
            status: 503,
            reasons: [
              expect.stringMatching(
                new RegExp(`^server: instance ${typo} is not registered .*registered servers: ${instance}`),
              ),
            ],
          }),
        { timeout: 20_000, interval: 100 },
      );
      expect(await metric(port, 'pinot_sidecar_server_live')).toBe(0);
      expect(p.output()).toMatch(/server: instance Server_serve-tset_8098 is not registered/);
      // The server registers but is not up yet: ready (segments on disk are still served), with a warning.
      await seed.addInstance(typo, { live: false });
      await vi.waitFor(
        async () =>
          expect(await readyBody(port)).toMatchObject({
            status: 200,
            reasons: [],
            warnings: [expect.stringMatching(/^server: no live instance znode/)],
          }),
        { timeout: 20_000, interval: 100 },
      );
      await seed.setLive(typo);
      await vi.waitFor(async () => expect(await readyBody(port)).toMatchObject({ status: 200, warnings: [] }), {
        timeout: 20_000,
        interval: 100,
      });
      expect(await metric(port, 'pinot_sidecar_server_live')).toBe(1);
    } finally {
      await stopCli(p);
    }
  });

  it('a ZooKeeper that refuses connections is said so in one line, not as a silent server or a stack trace', async () => {
    const { seed } = pinot;
    const port = await freePort();
    const closed = await freePort();
    const p = spawnCli([
      'serve',
      '--zk',
      `127.0.0.1:${closed}`,
      '--cluster',
      seed.cluster,
      '--instance',
      instance,
      '--data-dir',
      path.join(root, 'data'),
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
    ]);
    try {
      await vi.waitFor(
        async () =>
          expect(await readyBody(port)).toMatchObject({
            status: 503,
            reasons: expect.arrayContaining([
              `zookeeper: connection refused by 127.0.0.1:${closed} (is ZooKeeper running there? is --zk right?)`,
            ]),
          }),
        { timeout: 20_000, interval: 100 },
      );
      // Past the handshake timeout (5 s) and a first-sync deadline: still the one plain line, nothing else.
      await vi.waitFor(() => expect(p.output().match(/connection refused by/g)?.length).toBeGreaterThanOrEqual(1), {
        timeout: 10_000,
      });
      const output = p.output();
      expect(output).not.toMatch(/silent past the read timeout/);
      expect(output).not.toMatch(/"stack"/);
    } finally {
      await stopCli(p);
    }
  });

  it('serves, becomes ready, and exits 0 on SIGTERM', async () => {
    const { seed } = pinot;
    const port = await freePort();
    const p = spawnCli(['serve', '--port', String(port), '--host', '127.0.0.1'], {
      PINOT_SIDECAR_ZK: inject('zkConnectString'),
      PINOT_SIDECAR_CLUSTER: seed.cluster,
      PINOT_SIDECAR_INSTANCE: instance,
      PINOT_SIDECAR_DATA_DIR: path.join(root, 'data'),
    });
    try {
      await vi.waitFor(async () => expect((await fetch(`http://127.0.0.1:${port}/health/ready`)).status).toBe(200), {
        timeout: 20_000,
        interval: 100,
      });
      const res = await fetch(`http://127.0.0.1:${port}/tables/events/segments/events__0__1__20240101T0000Z`);
      expect(res.status).toBe(200);
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(100);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(/^pinot_sidecar_zk_connected 1$/m);
      expect(metrics).toMatch(/^pinot_sidecar_peer_downloads_total\{result="success"\} 1$/m);
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      // Logs are JSON lines.
      const lines = p
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'));
      expect(lines.some((l) => JSON.parse(l).msg === 'first sync done')).toBe(true);
      expect(lines.some((l) => JSON.parse(l).msg === 'shut down')).toBe(true);
    } finally {
      await stopCli(p);
    }
  });

  it('a deep store that cannot be used is said at start: a readiness warning, pinot_sidecar_deep_store_up 0, status', async () => {
    const { seed } = pinot;
    const port = await freePort();
    const missing = path.join(root, 'no-such-deep-store');
    const p = spawnCli([
      'serve',
      '--zk',
      inject('zkConnectString'),
      '--cluster',
      seed.cluster,
      '--instance',
      instance,
      '--data-dir',
      path.join(root, 'data'),
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--deep-store',
      `file://${missing}`,
    ]);
    try {
      await vi.waitFor(
        async () =>
          expect(await readyBody(port)).toMatchObject({
            status: 200,
            warnings: [expect.stringMatching(/^deep_store: deep store down: .*no-such-deep-store/)],
          }),
        { timeout: 20_000, interval: 100 },
      );
      expect(await metric(port, 'pinot_sidecar_deep_store_up')).toBe(0);
      const status = await runCli(['status', '--url', `http://127.0.0.1:${port}`]);
      expect(status.stdout).toMatch(/^deep store: DOWN since .*no-such-deep-store/m);
      expect(p.output().match(/"event":"deep_store_down"/g)).toHaveLength(1);
    } finally {
      await stopCli(p);
    }
  });

  it('a replica the server reports in ERROR is not served (404 with the reason) unless --serve-error-replicas', async () => {
    const { seed } = pinot;
    const table = 'events_REALTIME';
    const segment = 'events__0__1__20240101T0000Z';
    const errored = 'Server_serve-error_8098';
    const live = await seed.addInstance(errored);
    await seed.setCurrentState(errored, live, table, { [segment]: 'ERROR' });
    const serveWith = async (extra: string[]): Promise<{ status: number; body: string }> => {
      const port = await freePort();
      const p = spawnCli([
        'serve',
        '--zk',
        inject('zkConnectString'),
        '--cluster',
        seed.cluster,
        '--instance',
        errored,
        '--data-dir',
        path.join(root, 'data'),
        '--port',
        String(port),
        '--host',
        '127.0.0.1',
        ...extra,
      ]);
      try {
        await vi.waitFor(async () => expect((await fetch(`http://127.0.0.1:${port}/health/ready`)).status).toBe(200), {
          timeout: 20_000,
          interval: 100,
        });
        const res = await fetch(`http://127.0.0.1:${port}/segments/${table}/${segment}`);
        return {
          status: res.status,
          body: res.status === 200 ? `${(await res.arrayBuffer()).byteLength} bytes` : await res.text(),
        };
      } finally {
        await stopCli(p);
      }
    };
    const refused = await serveWith([]);
    expect(refused.status).toBe(404);
    expect(JSON.parse(refused.body).error).toBe(
      `${table}/${segment} is not served: the replica on this server is ERROR, and Pinot serves only segments it has loaded (--serve-error-replicas serves it anyway)`,
    );
    expect((await serveWith(['--serve-error-replicas'])).status).toBe(200);
  });
});
