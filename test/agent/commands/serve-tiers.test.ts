import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { spawnCli } from '../../helpers/cli.js';
import { useSeededCluster } from '../../helpers/pinot-cluster.js';
import { buildSegment } from '../../helpers/segment-builder.js';
import { freePort } from '../../helpers/zookeeper-server.js';

/**
 * `serve` wired to storage tiers: the variable reaches the segment store; a tier path that is not a directory stops it.
 */
describe('pinot-sidecar serve with tier data dirs (real process)', () => {
  let root: string;
  const instance = 'Server_serve-tiers_8098';
  const SEGMENT = 'events__0__3__20240101T0000Z';
  const pinot = useSeededCluster('servetiers', { setup: (seed) => seed.addInstance(instance) });

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'serve-tiers-'));
    await mkdir(path.join(root, 'data'));
    await buildSegment(path.join(root, 'cold', 'events_REALTIME'), { name: SEGMENT });
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const env = (tierDataDirs: string) => ({
    PINOT_SIDECAR_ZK: inject('zkConnectString'),
    PINOT_SIDECAR_CLUSTER: pinot.cluster,
    PINOT_SIDECAR_INSTANCE: instance,
    PINOT_SIDECAR_DATA_DIR: path.join(root, 'data'),
    PINOT_SIDECAR_TIER_DATA_DIRS: tierDataDirs,
  });

  it('serves a segment found only in a tier data dir (a tier not created yet is fine)', async () => {
    const port = await freePort();
    const p = spawnCli(
      ['serve', '--port', String(port), '--host', '127.0.0.1'],
      env(`${path.join(root, 'warm')}:${path.join(root, 'cold')}`),
    );
    try {
      await vi.waitFor(async () => expect((await fetch(`http://127.0.0.1:${port}/health/live`)).status).toBe(200), {
        timeout: 20_000,
        interval: 100,
      });
      const res = await fetch(`http://127.0.0.1:${port}/segments/events_REALTIME/${SEGMENT}`);
      expect(res.status).toBe(200);
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(100);
      expect(p.output()).toMatch(/tier data dir does not exist yet/);
    } finally {
      p.child.kill('SIGKILL');
      await p.exited;
    }
  });

  it('exits 2 before listening when a tier data dir is not a directory', async () => {
    await writeFile(path.join(root, 'a-file'), 'x');
    const p = spawnCli(['serve', '--port', '0'], env(path.join(root, 'a-file')));
    expect(await p.exited).toBe(2);
    expect(p.output()).toMatch(
      /--tier-data-dir \(PINOT_SIDECAR_TIER_DATA_DIRS\): .*a-file is not a readable directory/,
    );
  });
});
