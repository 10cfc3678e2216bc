/**
 * Benchmark (issue 4): the deep-store repair against a real ZooKeeper and a file deep store. Prints figures.
 *
 * (a) Latency and cost per repair: segments committed DONE with URL "" one after another (metadata written as
 *     the controller does at commit end, then the replica ONLINE in the server's current state) while the
 *     sidecar runs. For each: time from the commit's last ZooKeeper write to the URL being set (p50, p99), and
 *     the sidecar's ZooKeeper requests per repaired segment, by operation.
 *     Goal: p99 <= 2 s plus upload time; <= 6 requests per repaired segment, all counted (issue 15).
 * (b) Cost against cluster size: a cluster of N segments, 1% of them with URL "", this server hosting a share.
 *     Requests made by the sidecar (first sync, repairs, then a quiet window with safety passes running)
 *     against one controller-style full scan (a list per table plus a getData per segment, as segment-level
 *     validation reads them every run). Goal: zero reads while nothing changes.
 *
 *   node --import tsx bench/repair.ts [--segments 200] [--interval-ms 25]
 *        [--cluster-segments 20000] [--tables 10] [--hosted-fraction 0.5] [--quiet-seconds 30]
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pLimit from 'p-limit';
import { PinotClusterSeeder, segmentRecord } from '../src/agent/demo/cluster-seeder.js';
import { ZooKeeperServer } from '../src/agent/demo/local-zookeeper.js';
import { Reconciler } from '../src/agent/repair/reconciler.js';
import { FileDeepStore } from '../src/deepstore/file-deep-store.js';
import { HostedSegments } from '../src/helix/hosted-segments.js';
import { newZNRecord, serializeZNRecord } from '../src/helix/znrecord.js';
import { ZK_OPS, ZkSession, type ZkOp } from '../src/helix/zk-session.js';
import { SegmentStore } from '../src/segments/index.js';
import { buildSegment } from '../test/helpers/segment-builder.js';

const { values } = parseArgs({
  options: {
    segments: { type: 'string', default: '200' },
    'interval-ms': { type: 'string', default: '25' },
    'cluster-segments': { type: 'string', default: '20000' },
    tables: { type: 'string', default: '10' },
    'hosted-fraction': { type: 'string', default: '0.5' },
    'quiet-seconds': { type: 'string', default: '30' },
  },
});

const INSTANCE = 'Server_bench_8098';
const zk = await ZooKeeperServer.start();
const work = await mkdtemp(path.join(tmpdir(), 'bench-repair-'));

interface Sidecar {
  session: ZkSession;
  tracker: HostedSegments;
  reconciler: Reconciler;
  stop(): Promise<void>;
}

async function connect(): Promise<ZkSession> {
  const session = new ZkSession({ connectString: zk.connectString, sessionTimeoutMs: 30_000 });
  await session.waitConnected();
  return session;
}

async function startSidecar(
  cluster: string,
  dataDir: string,
  deepStoreDir: string,
  safetyPassIntervalMs = 10 * 60_000,
): Promise<Sidecar> {
  const session = await connect();
  const tracker = new HostedSegments({ session, cluster, instance: INSTANCE });
  await tracker.start();
  const reconciler = new Reconciler({
    session,
    hosted: tracker,
    store: new SegmentStore(dataDir),
    deepStore: new FileDeepStore(`file://${deepStoreDir}`),
    cluster,
    instance: INSTANCE,
    safetyPassIntervalMs,
  });
  reconciler.start();
  return {
    session,
    tracker,
    reconciler,
    async stop() {
      await reconciler.stop();
      tracker.stop();
      await session.close();
    },
  };
}

/** A cluster with this server live, its folders, and a place on disk for its data and deep store. */
async function newCluster(cluster: string, name: string) {
  const dataDir = path.join(work, `${name}-data`);
  const deepStoreDir = path.join(work, `${name}-deepstore`);
  await mkdir(deepStoreDir, { recursive: true });
  const seedSession = await connect();
  const seed = new PinotClusterSeeder(seedSession, cluster);
  await seed.createCluster();
  const helixSession = await seed.addInstance(INSTANCE);
  return { dataDir, deepStoreDir, seedSession, seed, helixSession };
}

/** Let the tracker read back our own writes (its watches fire on them) before requests are counted. */
async function settle(sidecar: Sidecar): Promise<void> {
  await sidecar.tracker.waitSynced();
  await new Promise((r) => setTimeout(r, 500));
  await sidecar.tracker.waitSynced();
}

function delta(after: Record<ZkOp, number>, before: Record<ZkOp, number>): Record<ZkOp, number> {
  return Object.fromEntries(ZK_OPS.map((op) => [op, after[op] - before[op]])) as Record<ZkOp, number>;
}

function total(requests: Record<ZkOp, number>): number {
  return ZK_OPS.reduce((sum, op) => sum + requests[op], 0);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function doneCount(reconciler: Reconciler): number {
  return reconciler.status().totals.done;
}

// --- (a) latency and requests per repaired segment ------------------------------------------------

async function benchLatency(): Promise<void> {
  const count = Number(values.segments);
  const intervalMs = Number(values['interval-ms']);
  const cluster = 'BenchRepairLatency';
  const table = 'events_REALTIME';
  const { dataDir, deepStoreDir, seedSession, seed, helixSession } = await newCluster(cluster, 'a');
  await seed.addTable(table);
  const names = Array.from({ length: count }, (_, i) => `events__0__${i}__20240101T0000Z`);
  const crcs: string[] = [];
  for (const name of names) crcs.push(String((await buildSegment(path.join(dataDir, table), { name })).crc));

  const sidecar = await startSidecar(cluster, dataDir, deepStoreDir);
  await sidecar.reconciler.requestPass();
  const before = { ...sidecar.session.requests };
  const committedAt: number[] = [];
  const states: Record<string, string> = {};
  const t0 = performance.now();
  for (const [i, name] of names.entries()) {
    await seed.putSegment(table, name, { status: 'DONE', downloadUrl: '', crc: crcs[i]! });
    states[name] = 'ONLINE';
    await seed.setCurrentState(INSTANCE, helixSession, table, states);
    committedAt.push(Date.now());
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  await until(() => doneCount(sidecar.reconciler) === count, 120_000, 'every segment repaired');
  const elapsed = (performance.now() - t0) / 1000;
  await settle(sidecar);
  const requests = delta(sidecar.session.requests, before);
  const status = new Map(sidecar.reconciler.status().segments.map((s) => [s.segment, s]));
  const latencies = names
    .map((name, i) => Date.parse(status.get(name)!.updatedAt) - committedAt[i]!)
    .sort((a, b) => a - b);
  const failures = [...status.values()].filter((s) => s.attempts !== 1).length;
  await sidecar.stop();
  await seedSession.close();

  const perSegment = total(requests) / count;
  const per = (n: number) => (n / count).toFixed(2);
  // The tracker reads the current state and the metadata of every committed segment, repaired or not; the
  // repair adds its lock, the CAS and unlock (one multi), and the tracker's re-read of the znode it wrote (which
  // also sets its watch again). It writes on the version the tracker watches, so there is no read of its own.
  const learning = 2 * count + requests.getChildren + requests.exists;
  console.log(
    `(a) ${count} segments committed DONE+"" every ${intervalMs} ms (file deep store, parallelism 2), all repaired in ${elapsed.toFixed(1)} s`,
  );
  console.log(
    `    commit -> URL set: p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms, max ${latencies.at(-1)} ms (goal p99 <= 2 s + upload)`,
  );
  console.log(`    segments needing more than one attempt: ${failures}`);
  console.log(
    `    sidecar ZooKeeper requests: ${JSON.stringify(requests)}: ${perSegment.toFixed(2)} per segment (goal <= 6, all counted)`,
  );
  console.log(
    `      learning of the commit (current state + metadata read, paid for every commit, repaired or not): ${per(learning)}`,
  );
  console.log(
    `      caused by the repair: ${per(total(requests) - learning)}: lock create ${per(requests.create)} (with the lock folders of a new ` +
      `cluster), reads of the record (the tracker's re-read of our write; the repair's own when its view was not current) ` +
      `${per(requests.getData - 2 * count)}, CAS + lock release ${per(requests.multi)} (one multi), lone CAS ${per(requests.setData)}, ` +
      `lone lock delete ${per(requests.delete)}`,
  );
}

// --- (b) a large cluster: sidecar requests vs a controller-style scan -----------------------------

async function benchClusterScale(): Promise<void> {
  const segments = Number(values['cluster-segments']);
  const tables = Number(values.tables);
  const hostedFraction = Number(values['hosted-fraction']);
  const quietSeconds = Number(values['quiet-seconds']);
  const cluster = 'BenchRepairScale';
  const { dataDir, deepStoreDir, seedSession, seed, helixSession } = await newCluster(cluster, 'b');
  const limit = pLimit(512);
  const perTable = Math.ceil(segments / tables);
  const hostEvery = Math.round(1 / hostedFraction);
  let hosted = 0;
  let missingHosted = 0;
  let missing = 0;
  const t0 = performance.now();
  for (let t = 0; t < tables; t++) {
    const table = `scale${t}_REALTIME`;
    await seed.addTable(table);
    const names = Array.from(
      { length: Math.min(perTable, segments - t * perTable) },
      (_, i) => `scale${t}__${i % 8}__${i}__20240101T0000Z`,
    );
    const states: Record<string, string> = {};
    await Promise.all(
      names.map((name, i) =>
        limit(async () => {
          // 1% missing, spread so that hosted and not-hosted segments both have some.
          const isMissing = i % 100 === Math.floor(i / 100) % 2;
          const isHosted = i % hostEvery === 0;
          let crc = '12345';
          if (isMissing) missing += 1;
          if (isHosted) {
            hosted += 1;
            states[name] = 'ONLINE';
            if (isMissing) {
              missingHosted += 1;
              crc = String((await buildSegment(path.join(dataDir, table), { name })).crc);
            }
          }
          const record = segmentRecord(name, {
            status: 'DONE',
            crc,
            downloadUrl: isMissing ? '' : `file://${deepStoreDir}/scale${t}/${name}`,
          });
          await seedSession.create(seed.paths.segmentMetadata(table, name), serializeZNRecord(record));
        }),
      ),
    );
    const mapFields = Object.fromEntries(Object.keys(states).map((n) => [n, { CURRENT_STATE: 'ONLINE' }]));
    await seed.put(
      seed.paths.currentState(INSTANCE, helixSession, table),
      serializeZNRecord(newZNRecord(table, { mapFields })),
    );
  }
  console.log(
    `(b) seeded ${segments} segments in ${tables} tables (${missing} with URL "") in ${((performance.now() - t0) / 1000).toFixed(1)} s; ` +
      `this server hosts ${hosted} of them, ${missingHosted} with URL ""`,
  );

  const s0 = performance.now();
  const sidecar = await startSidecar(cluster, dataDir, deepStoreDir, 5_000);
  const afterSync = { ...sidecar.session.requests };
  const syncSeconds = (performance.now() - s0) / 1000;
  await until(() => doneCount(sidecar.reconciler) === missingHosted, 120_000, 'the hosted missing segments repaired');
  await settle(sidecar);
  const afterRepair = { ...sidecar.session.requests };
  const repairSeconds = (performance.now() - s0) / 1000;
  await new Promise((r) => setTimeout(r, quietSeconds * 1000));
  const quiet = delta(sidecar.session.requests, afterRepair);
  await sidecar.stop();

  // The controller's segment-level validation reads every segment of every table, every run.
  const scanner = await connect();
  const c0 = performance.now();
  const scanLimit = pLimit(256);
  for (let t = 0; t < tables; t++) {
    const tablePath = seed.paths.tableSegments(`scale${t}_REALTIME`);
    const { children } = await scanner.getChildren(tablePath);
    await Promise.all(children.map((name) => scanLimit(() => scanner.getData(`${tablePath}/${name}`))));
  }
  const scanSeconds = (performance.now() - c0) / 1000;
  const scan = { ...scanner.requests };
  await scanner.close();
  await seedSession.close();

  const sync = afterSync;
  const repairs = delta(afterRepair, afterSync);
  console.log(
    `    sidecar first sync (once per sidecar start): ${total(sync)} requests in ${syncSeconds.toFixed(1)} s ${JSON.stringify(sync)}`,
  );
  console.log(
    `    sidecar repairs of ${missingHosted} segments: ${total(repairs)} requests (${(total(repairs) / missingHosted).toFixed(2)} per repaired segment), all done ${repairSeconds.toFixed(1)} s after start`,
  );
  console.log(`    sidecar over a quiet ${quietSeconds} s (safety pass every 5 s): ${total(quiet)} requests (goal 0)`);
  console.log(
    `    controller-style full scan, every validation run: ${total(scan)} requests in ${scanSeconds.toFixed(1)} s ${JSON.stringify({ getChildren: scan.getChildren, getData: scan.getData })}`,
  );
  console.log(
    `    steady state: the scan costs ${total(scan)} reads per run (24 h default, 2 h recommended for pauseless: ${total(scan) * 12} a day); ` +
      `the sidecar costs nothing until something changes, then ~${(total(repairs) / missingHosted).toFixed(1)} per repaired segment`,
  );
}

try {
  await benchLatency();
  await benchClusterScale();
} finally {
  await zk.destroy();
  await rm(work, { recursive: true, force: true });
}
