import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { SidecarResult } from '../../../src/agent/fleet/fleet-report.js';
import { decodeRegistration, registrationPath } from '../../../src/agent/fleet/registry-record.js';
import { DEFAULT_SIDECAR_ROOT } from '../../../src/agent/repair/upload-lock.js';
import { version } from '../../../src/agent/version.js';
import type { ZkSession } from '../../../src/helix/zk-session.js';
import { runCli, spawnCli, type CliProcess } from '../../helpers/cli.js';
import { connectSession, useSeededCluster } from '../../helpers/pinot-cluster.js';
import { rawRequest } from '../../helpers/raw-http.js';
import { freePort } from '../../helpers/zookeeper-server.js';

/**
 * Issue 16, the fleet view: real `serve` processes on the shared real ZooKeeper register themselves, and
 * `fleet status` finds and asks them. The registration's life follows the ZooKeeper session: gone after SIGKILL
 * once the session times out, back after a restart, re-created after a forced expiry (SIGSTOP past the timeout).
 */
const RT = 'events_REALTIME';
const SEG = 'events__0__1__20240101T0000Z';
const A = 'Server_fleet-a_8098';
const B = 'Server_fleet-b_8098';
const C = 'Server_fleet-c_8098';
/** --zone of each sidecar; C has none (its zone comes from its instance config). */
const ZONES: Record<string, string | undefined> = { [A]: 'zone-1', [B]: 'zone-1' };
const SHORT_SESSION_MS = 4_000;

const zkConnect = (): string => cluster.session.connectString;
const cluster = useSeededCluster('fleet', {
  setup: async (seed) => {
    const liveA = await seed.addInstance(A);
    await seed.addInstance(B);
    // C's sidecar is given no --zone: it registers the failure domain its server's instance config names.
    await seed.addInstance(C, { failureDomain: 'zone-2' });
    await seed.addTable(RT);
    // Committed without a deep-store copy and hosted by A: the missing copy the fleet view must count.
    await seed.putSegment(RT, SEG, { downloadUrl: '' });
    await seed.setCurrentState(A, liveA, RT, { [SEG]: 'ONLINE' });
  },
});

let root: string;
const processes = new Set<CliProcess>();
const ports: Record<string, number> = {};

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'fleet-'));
  for (const instance of [A, B, C]) {
    await mkdir(path.join(root, instance), { recursive: true });
    ports[instance] = await freePort();
  }
});

afterAll(async () => {
  for (const p of processes) {
    p.child.kill('SIGCONT');
    p.child.kill('SIGKILL');
  }
  await rm(root, { recursive: true, force: true });
});

function serve(instance: string, options: { sessionTimeoutMs?: number } = {}): CliProcess {
  const p = spawnCli(['serve', '--port', String(ports[instance]), '--host', '127.0.0.1'], {
    PINOT_SIDECAR_ZK: zkConnect(),
    PINOT_SIDECAR_CLUSTER: cluster.cluster,
    PINOT_SIDECAR_INSTANCE: instance,
    PINOT_SIDECAR_DATA_DIR: path.join(root, instance),
    ...(ZONES[instance] === undefined ? {} : { PINOT_SIDECAR_ZONE: ZONES[instance] }),
    PINOT_SIDECAR_ZK_SESSION_TIMEOUT_MS: String(options.sessionTimeoutMs ?? 30_000),
  });
  processes.add(p);
  void p.exited.then(() => processes.delete(p));
  return p;
}

async function stop(p: CliProcess): Promise<void> {
  p.child.kill('SIGCONT');
  p.child.kill('SIGTERM');
  expect(await p.exited).toBe(0);
}

const entryPath = (instance: string) => registrationPath(DEFAULT_SIDECAR_ROOT, cluster.cluster, instance);

/** The registry entry's owner session and contents, or null when there is none. */
async function entry(session: ZkSession, instance: string) {
  const stat = await session.exists(entryPath(instance));
  if (stat === null) return null;
  const { data } = await session.getData(entryPath(instance));
  return { owner: stat.ephemeralOwner, registration: decodeRegistration(entryPath(instance), data) };
}

async function waitForEntry(instance: string, options: { notOwnedBy?: string | null } = {}) {
  return vi.waitFor(
    async () => {
      const e = await entry(cluster.session, instance);
      expect(e).not.toBeNull();
      if (options.notOwnedBy !== undefined) expect(e!.owner).not.toBe(options.notOwnedBy);
      return e!;
    },
    { timeout: 60_000, interval: 100 },
  );
}

async function waitForNoEntry(instance: string): Promise<void> {
  await vi.waitFor(async () => expect(await cluster.session.exists(entryPath(instance))).toBeNull(), {
    timeout: 60_000,
    interval: 100,
  });
}

describe('registration', () => {
  it(
    'an ephemeral entry outside the Pinot tree holding the advertised URL, version, start time, capabilities and zone',
    { timeout: 90_000 },
    async () => {
      const p = serve(A);
      const e = await waitForEntry(A);
      expect(entryPath(A)).toBe(`/pinot-sidecar/${cluster.cluster}/sidecars/${A}`);
      expect(e.owner).not.toBeNull(); // ephemeral
      // The URL defaults to the instance config's HELIX_HOST (127.0.0.1 as seeded) and --port.
      expect(e.registration).toMatchObject({
        url: `http://127.0.0.1:${ports[A]}`,
        version: version(),
        zone: 'zone-1',
        zoneFrom: 'flag',
        capabilities: expect.arrayContaining(['fleet-summary', 'segment-download']) as string[],
      });
      expect(Date.parse(e.registration.startedAt)).not.toBeNaN();
      await vi.waitFor(() => expect(p.output()).toContain('registered in the fleet registry'), { timeout: 10_000 });
      expect(p.output().match(/"event":"sidecar_registered"/g)).toHaveLength(1);
      expect((await rawRequest(ports[A]!, '/metrics')).body.toString()).toMatch(/^pinot_sidecar_registered 1$/m);

      // The summary the fleet view reads, answered from memory.
      await vi.waitFor(async () => expect((await rawRequest(ports[A]!, '/health/ready')).status).toBe(200), {
        timeout: 60_000,
        interval: 200,
      });
      const summary = JSON.parse((await rawRequest(ports[A]!, '/fleet/summary')).body.toString()) as unknown;
      expect(summary).toMatchObject({
        instance: A,
        zone: 'zone-1',
        version: version(),
        startedAt: e.registration.startedAt,
        ready: true,
        hostedSegments: 1,
        missingDeepStore: 1,
        repairs: null, // no --deep-store
        downloads: { inFlight: 0, queued: 0 },
      });
      await stop(p);
      // A clean stop closes the session: the entry goes with it, well before the 30 s session timeout would remove it.
      await vi.waitFor(async () => expect(await cluster.session.exists(entryPath(A))).toBeNull(), {
        timeout: 10_000,
        interval: 100,
      });
    },
  );

  it('gone after SIGKILL once the session times out, back after a restart', { timeout: 120_000 }, async () => {
    const first = serve(B, { sessionTimeoutMs: SHORT_SESSION_MS });
    const before = await waitForEntry(B);
    first.child.kill('SIGKILL');
    await first.exited;
    await waitForNoEntry(B);
    const second = serve(B, { sessionTimeoutMs: SHORT_SESSION_MS });
    const after = await waitForEntry(B, { notOwnedBy: before.owner });
    expect(after.registration.url).toBe(before.registration.url);
    expect(after.registration.startedAt).not.toBe(before.registration.startedAt);
    await stop(second);
  });

  it(
    're-created after a forced session expiry (the process frozen past its session timeout)',
    { timeout: 120_000 },
    async () => {
      const p = serve(C, { sessionTimeoutMs: SHORT_SESSION_MS });
      const before = await waitForEntry(C);
      p.child.kill('SIGSTOP');
      try {
        await waitForNoEntry(C); // ZooKeeper expired the frozen process's session, and its ephemeral entry with it
      } finally {
        p.child.kill('SIGCONT');
      }
      const after = await waitForEntry(C, { notOwnedBy: before.owner });
      expect(after.registration.startedAt).toBe(before.registration.startedAt); // the same process, a new session
      await vi.waitFor(() => expect(p.output().match(/"event":"sidecar_registered"/g)).toHaveLength(2), {
        timeout: 10_000,
      });
      await stop(p);
    },
  );

  it(
    'an entry held by another live session is waited for, never deleted, and taken once it goes',
    { timeout: 90_000 },
    async () => {
      // A previous owner still alive (the last run's session before it expires, or a second sidecar with this id).
      const other = await connectSession({ connectString: zkConnect() });
      let otherOpen = true;
      try {
        await other.ensurePath(entryPath(A).slice(0, entryPath(A).lastIndexOf('/')));
        const held = Buffer.from(
          JSON.stringify({ url: 'http://old:9700', version: 'old', startedAt: 'x', capabilities: [] }),
        );
        await other.create(entryPath(A), held, 'ephemeral');
        const p = serve(A);
        await vi.waitFor(
          async () => {
            const body = JSON.parse((await rawRequest(ports[A]!, '/health/ready')).body.toString()) as {
              warnings?: string[];
            };
            expect(body.warnings?.join('\n')).toMatch(/^registration: .* is held by ZooKeeper session 0x/m);
          },
          { timeout: 60_000, interval: 200 },
        );
        expect((await entry(cluster.session, A))?.owner).toBe(other.sessionId);
        expect((await rawRequest(ports[A]!, '/metrics')).body.toString()).toMatch(/^pinot_sidecar_registered 0$/m);
        await other.close();
        otherOpen = false;
        const taken = await waitForEntry(A, { notOwnedBy: other.sessionId });
        expect(taken.registration.url).toBe(`http://127.0.0.1:${ports[A]}`);
        await stop(p);
      } finally {
        if (otherOpen) await other.close();
      }
    },
  );
});

describe('fleet status', () => {
  it(
    'three sidecars, one frozen: the frozen one is listed unreachable within the timeout, the others answer, exit 1',
    { timeout: 120_000 },
    async () => {
      const sidecars = [serve(A), serve(B), serve(C)];
      for (const instance of [A, B, C]) await waitForEntry(instance);
      const args = ['fleet', 'status', '--zk', zkConnect(), '--cluster', cluster.cluster, '--timeout-ms', '1500'];

      const healthy = await runCli([...args, '--json']);
      expect(healthy.stderr).toBe('');
      const all = JSON.parse(healthy.stdout) as { sidecars: SidecarResult[]; totals: { missingDeepStore: number } };
      expect(all.sidecars.map((s) => [s.instance, s.state]).sort()).toEqual([
        [A, 'up'],
        [B, 'up'],
        [C, 'up'],
      ]);
      expect(healthy.code).toBe(0);

      sidecars[1]!.child.kill('SIGSTOP'); // B: the socket accepts, nothing answers
      try {
        const frozen = await runCli([...args, '--json']);
        expect(frozen.code).toBe(1);
        const body = JSON.parse(frozen.stdout) as {
          sidecars: SidecarResult[];
          totals: { up: number; unreachable: number; missingDeepStore: number };
          timedOut: boolean;
        };
        const byInstance = new Map(body.sidecars.map((s) => [s.instance, s]));
        expect(byInstance.get(B)).toMatchObject({
          state: 'unreachable',
          zone: 'zone-1',
          reason: `no answer from http://127.0.0.1:${ports[B]} within 1500 ms`,
        });
        expect(byInstance.get(A)).toMatchObject({ state: 'up', zone: 'zone-1' });
        // C was given no --zone: its server's failure domain, in the registry and in its own summary.
        expect(byInstance.get(C)).toMatchObject({ state: 'up', zone: 'zone-2', summary: { zone: 'zone-2' } });
        expect(body.totals).toMatchObject({ up: 2, unreachable: 1 });
        expect(body.timedOut).toBe(false);

        const table = await runCli(args);
        expect(table.code).toBe(1);
        const rows = table.stdout.split('\n');
        expect(rows[0]).toMatch(/^INSTANCE\s+ZONE\s+STATE\s+HOSTED\s+MISSING COPIES/);
        expect(rows.find((r) => r.startsWith(B))).toMatch(/\bunreachable\b.*no answer .* within 1500 ms/);
        expect(rows.find((r) => r.startsWith(C))).toMatch(/^\S+\s+zone-2\s+up\s/);
        expect(table.stdout).toMatch(/^3 sidecars registered under .*: 2 up.*, 1 unreachable$/m);
        expect(table.stdout).toMatch(/^done in \d+ ms$/m);
      } finally {
        sidecars[1]!.child.kill('SIGCONT');
      }
      for (const p of sidecars) await stop(p);
    },
  );

  it(
    'no sidecar registered: exit 1 naming the registry path; ZooKeeper unreachable: exit 2',
    { timeout: 60_000 },
    async () => {
      const none = await runCli(['fleet', 'status', '--zk', zkConnect(), '--cluster', 'no_such_cluster_fleet']);
      expect(none.code).toBe(1);
      expect(none.stderr).toContain('no sidecar is registered under /pinot-sidecar/no_such_cluster_fleet/sidecars');
      const port = await freePort();
      const down = await runCli([
        'fleet',
        'status',
        '--zk',
        `127.0.0.1:${port}`,
        '--cluster',
        'c',
        '--overall-timeout-ms',
        '2000',
      ]);
      expect(down.code).toBe(2);
      expect(down.stderr).toContain(`cannot read the registry from ZooKeeper 127.0.0.1:${port}`);
    },
  );
});
