/**
 * Benchmark (issue 16): `pinot-sidecar fleet status` over a large fleet. Prints figures.
 *
 * N sidecars (default 500) registered in a real ZooKeeper (the demo's Debian ZooKeeper, one ephemeral entry each,
 * exactly as `serve` writes them), each answered by its own in-process HTTP server on loopback (a real socket per
 * sidecar) running the sidecar's own `GET /fleet/summary` route (registerFleetSummary, over a tracker-shaped view of
 * --segments hosted segments, 2% of them missing a deep-store copy). `--silent K` of them accept connections and
 * never answer (a frozen process), to show the per-sidecar timeout and that they are listed, not dropped.
 *
 * The command runs in a child process (`node --import tsx src/agent/cli.ts fleet status --json`), so its time and
 * peak RSS are its own, not the 500 servers'.
 *
 *   node --import tsx bench/fleet.ts [--sidecars 500] [--segments 2000] [--silent 0] [--concurrency 64]
 *        [--timeout-ms 5000]
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Hono } from 'hono';
import pLimit from 'p-limit';
import { segmentRecord } from '../src/agent/demo/cluster-seeder.js';
import { ZooKeeperServer } from '../src/agent/demo/local-zookeeper.js';
import type { FleetTotals } from '../src/agent/fleet/fleet-report.js';
import { encodeRegistration, registrationPath, registryPath } from '../src/agent/fleet/registry-record.js';
import { registerFleetSummary } from '../src/agent/fleet/summary-route.js';
import { startHttpServer, type HttpServer } from '../src/agent/http/server.js';
import { zeroTotals } from '../src/agent/repair/repair-state.js';
import { DEFAULT_SIDECAR_ROOT } from '../src/agent/repair/upload-lock.js';
import { version } from '../src/agent/version.js';
import type { ClusterSettings, HostedSegment } from '../src/helix/index.js';
import { readSegmentMetadata } from '../src/helix/segment-metadata.js';
import { ZkSession } from '../src/helix/zk-session.js';

const { values } = parseArgs({
  options: {
    sidecars: { type: 'string', default: '500' },
    segments: { type: 'string', default: '2000' },
    silent: { type: 'string', default: '0' },
    concurrency: { type: 'string', default: '64' },
    'timeout-ms': { type: 'string', default: '5000' },
  },
});
const SIDECARS = Number(values.sidecars);
const SEGMENTS = Number(values.segments);
const SILENT = Number(values.silent);
const CLUSTER = 'FleetBench';
const TABLE = 'events_REALTIME';

/** A tracker-shaped view of `count` hosted segments, every 50th committed without a deep-store copy. */
function hostedView(count: number) {
  const segments = new Map<string, HostedSegment>();
  for (let i = 0; i < count; i++) {
    const name = `events__${i % 16}__${i}__20240101T0000Z`;
    const url = i % 50 === 0 ? '' : `s3://bucket/${TABLE}/${name}`;
    const metadata = readSegmentMetadata(segmentRecord(name, { downloadUrl: url }));
    segments.set(name, { table: TABLE, segment: name, state: 'ONLINE', zk: { metadata, version: 1, mtimeMs: 0 } });
  }
  const cluster: ClusterSettings = { maxSegmentCompletionTimeMs: 300_000, disasterRecoveryMode: 'DEFAULT' };
  return {
    tables: () => [TABLE],
    segments: (table: string) => (table === TABLE ? segments : new Map<string, HostedSegment>()),
    tableSettings: () => null,
    clusterSettings: cluster,
    count: () => segments.size,
  };
}

/** One sidecar's HTTP surface for the fleet view: the real route over its own view. */
async function startSidecarServer(i: number): Promise<HttpServer> {
  const app = new Hono();
  const hosted = hostedView(SEGMENTS);
  const totals = { ...zeroTotals(), pending: i % 7 === 0 ? 2 : 0, done: 5 };
  registerFleetSummary(app, {
    instance: instanceName(i),
    zone: () => zoneOf(i),
    version: version(),
    startedAt: new Date().toISOString(),
    hosted,
    repairTotals: () => totals,
    slots: { active: i % 3, queued: 0 },
    readiness: () => ({ ready: true, reasons: [] }),
  });
  return startHttpServer(app, { port: 0, host: '127.0.0.1' });
}

/** Accepts connections and never answers: a SIGSTOPped sidecar as its peers see it. */
async function startSilentServer(): Promise<net.Server> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => sockets.push(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.on('close', () => sockets.forEach((s) => s.destroy()));
  return server;
}

const instanceName = (i: number) => `Server_pinot-server-${i}_8098`;
const zoneOf = (i: number) => `zone-${i % 3}`;

const zk = await ZooKeeperServer.start();
const session = new ZkSession({ connectString: zk.connectString, sessionTimeoutMs: 30_000 });
await session.waitConnected();
await session.ensurePath(registryPath(DEFAULT_SIDECAR_ROOT, CLUSTER));

const tSetup = performance.now();
const servers: HttpServer[] = [];
const silent: net.Server[] = [];
const limit = pLimit(64);
await Promise.all(
  Array.from({ length: SIDECARS }, (_, i) =>
    limit(async () => {
      let port: number;
      if (i < SILENT) {
        const s = await startSilentServer();
        silent.push(s);
        port = (s.address() as net.AddressInfo).port;
      } else {
        const s = await startSidecarServer(i);
        servers.push(s);
        port = s.port;
      }
      const entry = encodeRegistration({
        url: `http://127.0.0.1:${port}`,
        version: version(),
        startedAt: new Date().toISOString(),
        capabilities: ['segment-download', 'fleet-summary', 'pauseless-debug', 'repair'],
        zone: zoneOf(i),
      });
      await session.create(registrationPath(DEFAULT_SIDECAR_ROOT, CLUSTER, instanceName(i)), entry, 'ephemeral');
    }),
  ),
);
const setupMs = performance.now() - tSetup;

interface ChildResult {
  code: number | null;
  wallMs: number;
  maxRssKiB: number;
  report: { elapsedMs: number; timedOut: boolean; totals: FleetTotals };
}

/** `fleet status --json` in a child process; its own peak RSS comes from process.resourceUsage() at its exit. */
function runFleetStatus(): Promise<ChildResult> {
  const cli = path.join(import.meta.dirname, '..', 'src', 'agent', 'cli.ts');
  const script = [
    `const { main } = await import(${JSON.stringify(cli)});`,
    'let out = "";',
    'const io = { stdout: (t) => (out += t), stderr: (t) => process.stderr.write(t), env: {} };',
    'const code = await main(process.argv.slice(1), io);',
    'process.stdout.write(JSON.stringify({ code, maxRssKiB: process.resourceUsage().maxRSS, out }));',
  ].join('\n');
  const args = [
    'fleet',
    'status',
    '--zk',
    zk.connectString,
    '--cluster',
    CLUSTER,
    '--json',
    '--concurrency',
    String(values.concurrency),
    '--timeout-ms',
    String(values['timeout-ms']),
  ];
  const t0 = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', () => {
      const wallMs = performance.now() - t0;
      try {
        const { code, maxRssKiB, out } = JSON.parse(stdout) as { code: number; maxRssKiB: number; out: string };
        resolve({ code, wallMs, maxRssKiB, report: JSON.parse(out) as ChildResult['report'] });
      } catch (err) {
        reject(new Error(`fleet status child printed no result: ${stdout.slice(0, 500)}`, { cause: err }));
      }
    });
  });
}

try {
  const runs: ChildResult[] = [];
  for (let i = 0; i < 3; i++) runs.push(await runFleetStatus());
  const last = runs[runs.length - 1]!;
  const t = last.report.totals;
  console.log(`fleet status over ${SIDECARS} registered sidecars (${SILENT} silent), ${SEGMENTS} hosted segments each`);
  console.log(
    `  setup: ${SIDECARS} HTTP servers on loopback + ${SIDECARS} registry znodes in ${setupMs.toFixed(0)} ms`,
  );
  for (const [i, r] of runs.entries())
    console.log(
      `  run ${i + 1}: command ${r.report.elapsedMs} ms (registry + ${SIDECARS} summaries), ` +
        `process wall ${r.wallMs.toFixed(0)} ms (with tsx start), ` +
        `peak RSS ${(r.maxRssKiB / 1024).toFixed(0)} MiB, exit ${r.code}`,
    );
  console.log(
    `  answers: ${t.up} up, ${t.unreachable} unreachable; ${t.hostedSegments} hosted, ` +
      `${t.missingDeepStore} missing copies, ${t.repairsPending} repairs pending, ` +
      `${t.downloadsInFlight} downloads in flight; timedOut ${last.report.timedOut}`,
  );
} finally {
  await Promise.all(servers.map((s) => s.close(0)));
  await Promise.all(silent.map((s) => new Promise((r) => s.close(r))));
  await session.close();
  await zk.destroy();
}
