/**
 * Benchmark (issue 2): a server hosting 50,000 segments across 20 REALTIME tables, seeded in a real
 * ZooKeeper. Measures, in a fresh child process that runs only the tracker: time from start to
 * "first sync done", ZooKeeper requests by operation, RSS; then requests over a quiet window.
 * Goals: <= 10 s, about one read per hosted segment plus a few per table, <= 250 MiB, 0 quiet reads.
 *
 *   node --import tsx bench/helix-first-sync.ts [--segments 50000] [--tables 20] [--quiet-seconds 60] [--compiled]
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pLimit from 'p-limit';
import { HostedSegments } from '../src/helix/hosted-segments.js';
import { ZkSession } from '../src/helix/zk-session.js';
import { PinotClusterSeeder, segmentRecord } from '../test/helpers/pinot-cluster.js';
import { ZooKeeperServer } from '../test/helpers/zookeeper-server.js';
import { serializeZNRecord, newZNRecord } from '../src/helix/znrecord.js';

const { values } = parseArgs({
  options: {
    segments: { type: 'string', default: '50000' },
    tables: { type: 'string', default: '20' },
    'quiet-seconds': { type: 'string', default: '60' },
    child: { type: 'string' },
    concurrency: { type: 'string', default: '256' },
    compiled: { type: 'boolean', default: false },
  },
});
const CLUSTER = 'BenchCluster';
const INSTANCE = 'Server_bench_8098';

interface ChildReport {
  syncMs: number;
  hosted: number;
  requests: Record<string, number>;
  rssMiB: number;
  peakRssMiB: number;
  idleRssMiB: number;
  heapMiB: number;
  quietRequests: number;
  quietSeconds: number;
}

if (values.child) {
  // Child: only the tracker, so RSS is the tracker's own.
  const idleRss = process.memoryUsage().rss;
  const session = new ZkSession({ connectString: values.child, sessionTimeoutMs: 30_000 });
  await session.waitConnected();
  const tracker = new HostedSegments({
    session,
    cluster: CLUSTER,
    instance: INSTANCE,
    readConcurrency: Number(values.concurrency),
  });
  const t0 = performance.now();
  await tracker.start();
  const syncMs = performance.now() - t0;
  const requests = { ...session.requests };
  const peakRss = process.memoryUsage().rss;
  (globalThis as { gc?: () => void }).gc?.();
  const rss = process.memoryUsage();
  const before = session.totalRequests();
  const quietSeconds = Number(values['quiet-seconds']);
  await new Promise((r) => setTimeout(r, quietSeconds * 1000));
  const report: ChildReport = {
    syncMs,
    hosted: tracker.count(),
    requests,
    rssMiB: rss.rss / 2 ** 20,
    peakRssMiB: peakRss / 2 ** 20,
    idleRssMiB: idleRss / 2 ** 20,
    heapMiB: rss.heapUsed / 2 ** 20,
    quietRequests: session.totalRequests() - before,
    quietSeconds,
  };
  process.send?.(report);
  tracker.stop();
  await session.close();
  process.exit(0);
}

const segments = Number(values.segments);
const tables = Number(values.tables);
const server = await ZooKeeperServer.start();
const session = new ZkSession({ connectString: server.connectString, sessionTimeoutMs: 30_000 });
await session.waitConnected();
const seed = new PinotClusterSeeder(session, CLUSTER);
await seed.createCluster();
const serverSession = await seed.addInstance(INSTANCE);
const limit = pLimit(1000);
const t0 = performance.now();
const perTable = Math.ceil(segments / tables);
for (let t = 0; t < tables; t++) {
  const table = `bench${t}_REALTIME`;
  await seed.addTable(table);
  const names = Array.from(
    { length: Math.min(perTable, segments - t * perTable) },
    (_, i) => `bench${t}__${i % 16}__${i}__20240101T0000Z`,
  );
  await Promise.all(
    names.map((name, i) =>
      limit(() =>
        session.create(
          seed.paths.segmentMetadata(table, name),
          serializeZNRecord(segmentRecord(name, { downloadUrl: i % 100 === 0 ? '' : `s3://b/${name}` })),
        ),
      ),
    ),
  );
  const mapFields = Object.fromEntries(names.map((n) => [n, { CURRENT_STATE: 'ONLINE' }]));
  await seed.put(
    seed.paths.currentState(INSTANCE, serverSession, table),
    serializeZNRecord(newZNRecord(table, { mapFields })),
  );
}
console.log(`seeded ${segments} segments in ${tables} tables in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
await session.close();

const childArgs = [
  '--child',
  server.connectString,
  '--quiet-seconds',
  values['quiet-seconds'],
  '--concurrency',
  values.concurrency,
];
const extraNodeOptions = (process.env.BENCH_NODE_OPTIONS ?? '').split(' ').filter(Boolean);
// --compiled: the tracker from dist/ (run `npm run build` first) in plain Node, as deployed.
const child = values.compiled
  ? fork(
      fileURLToPath(new URL('./helix-first-sync-child.mjs', import.meta.url)),
      [...childArgs, '--cluster', CLUSTER, '--instance', INSTANCE],
      {
        execArgv: ['--expose-gc', ...extraNodeOptions],
      },
    )
  : fork(fileURLToPath(import.meta.url), childArgs, {
      execArgv: ['--import', 'tsx', '--expose-gc', ...extraNodeOptions],
    });
const report = await new Promise<ChildReport>((resolve, reject) => {
  child.once('message', (m) => resolve(m as ChildReport));
  child.once('exit', (code) => reject(new Error(`child exited ${code}`)));
});
await server.destroy();

const reads = report.requests.getData! + report.requests.getChildren! + report.requests.exists!;
console.log(`hosted segments:        ${report.hosted}`);
console.log(`first sync:             ${(report.syncMs / 1000).toFixed(2)} s (goal <= 10 s)`);
console.log(`zk requests:            ${JSON.stringify(report.requests)}`);
console.log(
  `reads per segment:      ${(reads / report.hosted).toFixed(4)} (${reads - report.hosted} beyond one per segment for ${tables} tables)`,
);
console.log(
  `rss at first sync:      ${report.peakRssMiB.toFixed(0)} MiB, of which ${report.idleRssMiB.toFixed(0)} MiB before start (${values.compiled ? 'node, compiled build' : 'node + tsx'}); live heap after a GC ${report.heapMiB.toFixed(0)} MiB (goal <= 250 MiB)`,
);
console.log(`quiet window requests:  ${report.quietRequests} over ${report.quietSeconds} s (goal 0)`);
