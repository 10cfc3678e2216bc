import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DrainCheckBody } from '../../../src/agent/http/drain-routes.js';
import { readRecord, readSegmentMetadata } from '../../../src/helix/index.js';
import { runCli, spawnCli, type CliProcess } from '../../helpers/cli.js';
import { useSeededCluster } from '../../helpers/pinot-cluster.js';
import { rawRequest } from '../../helpers/raw-http.js';
import { buildSegment, type BuiltSegment } from '../../helpers/segment-builder.js';
import { freePort, useOwnZooKeeper } from '../../helpers/zookeeper-server.js';

/**
 * The drain gate end to end (issue 16): a real ZooKeeper of this file's own (it is stopped at the end), three
 * simulated servers in two zones (A and B in z1, C in z2, from Pinot's environment.failureDomain), and the real
 * `serve` process beside server A with a file deep store. The CLI asks it, as an orchestrator would.
 */
const RT = 'events_REALTIME';
const A = 'Server_a_8098';
const B = 'Server_b_8098';
const C = 'Server_c_8098';
const WITH_URL = 'events__0__1__20240101T0000Z';
const CONSUMING = 'events__0__9__20240101T0000Z';
/** URL "": its only other replica is on B, in A's zone. */
const SAME_ZONE = 'events__0__2__20240101T0000Z';
/** URL "": another replica on C, in the other zone. */
const OTHER_ZONE = 'events__0__3__20240101T0000Z';

const zk = useOwnZooKeeper();
const sessions = new Map<string, string>();
const world = useSeededCluster('drain', {
  zooKeeper: zk,
  setup: async (seed) => {
    for (const [instance, zone] of [
      [A, 'z1'],
      [B, 'z1'],
      [C, 'z2'],
    ] as const) {
      sessions.set(instance, await seed.addInstance(instance, { failureDomain: zone }));
    }
    await seed.addTable(RT);
  },
});

let root: string;
let deepStoreDir: string;
let sameZone: BuiltSegment;
let port: number;
let sidecar: CliProcess;

async function drainCheck(...args: string[]): Promise<{ code: number; body: DrainCheckBody; stderr: string }> {
  const { code, stdout, stderr } = await runCli([
    'drain-check',
    '--url',
    `http://127.0.0.1:${port}`,
    '--json',
    ...args,
  ]);
  return { code, body: (stdout ? JSON.parse(stdout) : null) as DrainCheckBody, stderr };
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'drain-'));
  deepStoreDir = path.join(root, 'deepstore');
  await mkdir(deepStoreDir);
  await mkdir(path.join(root, 'data', RT), { recursive: true });
  await buildSegment(path.join(root, 'data', RT), { name: WITH_URL });
  // Built aside: the sidecar's own repair skips it (not on disk) until the test moves it in.
  sameZone = await buildSegment(path.join(root, 'aside'), { name: SAME_ZONE });

  const { seed } = world;
  await seed.putSegment(RT, WITH_URL, { downloadUrl: `file://${deepStoreDir}/events/${WITH_URL}` });
  await seed.putSegment(RT, CONSUMING, { status: 'IN_PROGRESS' });
  await seed.setCurrentState(A, sessions.get(A)!, RT, { [WITH_URL]: 'ONLINE', [CONSUMING]: 'CONSUMING' });
  await seed.setExternalView(RT, {
    [WITH_URL]: { [A]: 'ONLINE', [B]: 'ONLINE' },
    [CONSUMING]: { [A]: 'CONSUMING', [C]: 'CONSUMING' },
  });

  port = await freePort();
  sidecar = spawnCli(
    ['serve', '--port', String(port), '--host', '127.0.0.1', '--deep-store', `file://${deepStoreDir}`],
    {
      PINOT_SIDECAR_ZK: zk.connectString,
      PINOT_SIDECAR_CLUSTER: world.cluster,
      PINOT_SIDECAR_INSTANCE: A,
      PINOT_SIDECAR_DATA_DIR: path.join(root, 'data'),
    },
  );
  await vi.waitFor(async () => expect((await rawRequest(port, '/health/ready')).status).toBe(200), {
    timeout: 60_000,
    interval: 100,
  });
}, 90_000);

afterAll(async () => {
  sidecar?.child.kill('SIGKILL');
  await sidecar?.exited;
  await rm(root, { recursive: true, force: true });
});

describe('drain-check against the real sidecar', () => {
  it('safe (exit 0) when every segment has a deep-store copy; CONSUMING listed apart', async () => {
    const { code, body } = await drainCheck();
    expect(code).toBe(0);
    expect(body.verdict).toBe('safe');
    expect(body.domain).toEqual({ id: 'z1', source: 'environment' });
    expect(body.counts).toMatchObject({ hosted: 2, withDeepStoreCopy: 1, atRisk: 0, consuming: 1 });
    expect(body.consuming).toEqual([{ table: RT, segment: CONSUMING }]);
    // Every copy is in the store: no external view is needed, only this server's own instance config.
    expect(body.reads).toEqual({ externalViews: 0, instanceConfigs: 1 });
  });

  it('unsafe (exit 1) for the segment whose only other replica is in the same zone', async () => {
    const { seed } = world;
    await seed.putSegment(RT, SAME_ZONE, { downloadUrl: '', crc: String(sameZone.crc) });
    await seed.putSegment(RT, OTHER_ZONE, { downloadUrl: '' });
    await seed.setExternalView(RT, {
      [WITH_URL]: { [A]: 'ONLINE', [B]: 'ONLINE' },
      [CONSUMING]: { [A]: 'CONSUMING', [C]: 'CONSUMING' },
      [SAME_ZONE]: { [A]: 'ONLINE', [B]: 'ONLINE' },
      [OTHER_ZONE]: { [A]: 'ONLINE', [C]: 'ONLINE' },
    });
    await seed.setCurrentState(A, sessions.get(A)!, RT, {
      [WITH_URL]: 'ONLINE',
      [CONSUMING]: 'CONSUMING',
      [SAME_ZONE]: 'ONLINE',
      [OTHER_ZONE]: 'ONLINE',
    });
    const { code, body } = await vi.waitFor(
      async () => {
        const answer = await drainCheck();
        expect(answer.body.counts.hosted).toBe(4);
        return answer;
      },
      { timeout: 20_000, interval: 100 },
    );
    expect(code).toBe(1);
    expect(body.verdict).toBe('unsafe');
    expect(body.atRisk.map((r) => [r.segment, r.reason])).toEqual([[SAME_ZONE, 'same_domain_only']]);
    expect(body.atRisk[0]!.replicas).toEqual([{ instance: B, state: 'ONLINE', domain: 'z1' }]);
    expect(body.counts).toMatchObject({ withDeepStoreCopy: 1, replicaOutsideDomain: 1, atRisk: 1, consuming: 1 });
    expect(body.reads).toEqual({ externalViews: 1, instanceConfigs: 3 });

    // The same question for a zone: losing z2 loses nothing (A, in z1, keeps its copies) ...
    expect((await drainCheck('--domain', 'z2')).code).toBe(0);
    // ... and losing z1 loses the segment whose replicas are both there.
    const z1 = await drainCheck('--domain', 'z1');
    expect([z1.code, z1.body.atRisk.map((r) => r.segment)]).toEqual([1, [SAME_ZONE]]);

    // The operator's view names the segment and why.
    const text = await runCli(['drain-check', '--url', `http://127.0.0.1:${port}`]);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain(`UNSAFE to take down ${A}, domain z1 (from environment)`);
    expect(text.stdout).toMatch(new RegExp(`${RT}\\s+${SAME_ZONE}\\s+same_domain_only`));

    // The zone gate over the fleet registry: A (z1) answers for z1; z2's server C has no sidecar: cannot tell.
    const fleet = (zone: string) =>
      runCli([
        'fleet',
        'drain-check',
        '--zk',
        zk.connectString,
        '--cluster',
        world.seed.cluster,
        '--zone',
        zone,
        '--json',
      ]);
    let zone1 = await fleet('z1');
    await vi.waitFor(async () => {
      zone1 = await fleet('z1'); // the sidecar registers itself once ZooKeeper answers
      expect(zone1.code, zone1.stderr).toBe(1);
    });
    const parsed = JSON.parse(zone1.stdout) as {
      servers: string[];
      atRisk: Array<{ instance: string; segment: string }>;
    };
    expect(parsed.servers).toEqual([A]);
    expect(parsed.atRisk.map((r) => [r.instance, r.segment])).toEqual([[A, SAME_ZONE]]);
    const zone2 = await fleet('z2');
    expect([zone2.code, (JSON.parse(zone2.stdout) as { reasons: string[] }).reasons]).toEqual([
      2,
      ['no registered sidecar is in zone z2'],
    ]);
  });

  it('unsafe -> safe once POST /drain/prepare has repaired the at-risk segment', { timeout: 60_000 }, async () => {
    // The local copy appears; nothing repairs it until asked (the safety pass is 10 minutes away).
    await rename(sameZone.dir, path.join(root, 'data', RT, SAME_ZONE));
    const waiting = drainCheck('--wait', '45', '--interval', '0.2');
    const prepared = await fetch(`http://127.0.0.1:${port}/drain/prepare`, { method: 'POST' });
    expect(prepared.status).toBe(202);
    expect(await prepared.json()).toMatchObject({
      accepted: true,
      segments: [{ table: RT, segment: SAME_ZONE, reason: 'same_domain_only' }],
    });
    const { code, body } = await waiting;
    expect(code).toBe(0);
    expect(body.verdict).toBe('safe');
    expect(body.counts).toMatchObject({ withDeepStoreCopy: 2, atRisk: 0 });
    expect(body.preparation?.segments).toEqual([
      expect.objectContaining({ segment: SAME_ZONE, repair: expect.objectContaining({ state: 'done' }) }),
    ]);
    const record = await readRecord(world.session, world.seed.paths.segmentMetadata(RT, SAME_ZONE));
    const url = readSegmentMetadata(record!.doc.record).downloadUrl;
    expect(url).toEqual({ kind: 'uri', uri: `file://${deepStoreDir}/events/${SAME_ZONE}` });
    expect(existsSync(path.join(deepStoreDir, 'events', SAME_ZONE))).toBe(true);
  });

  it('cannot tell (exit 2) with ZooKeeper stopped: never "safe" when unsure', { timeout: 60_000 }, async () => {
    await zk.server.stop();
    const { code, body } = await vi.waitFor(
      async () => {
        const answer = await drainCheck();
        expect(answer.code).toBe(2);
        return answer;
      },
      { timeout: 30_000, interval: 100 },
    );
    expect(code).toBe(2);
    expect(body.verdict).toBe('cannot_tell');
    expect(body.reasons.join('\n')).toMatch(/ZooKeeper is not connected/);
    const text = await runCli(['drain-check', '--url', `http://127.0.0.1:${port}`]);
    expect([text.code, text.stdout.split('\n')[0]]).toEqual([2, `CANNOT TELL to take down ${A}, domain unknown`]);
  });
});
