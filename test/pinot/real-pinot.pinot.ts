import { watch, type FSWatcher } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { segmentUri } from '../../src/deepstore/segment-key.js';
import { crcFromCreationMeta } from '../../src/pinot-format/index.js';
import { isTempFileName, TEMP_FOLDER } from '../../src/deepstore/file-store-temps.js';
import { HostedSegments } from '../../src/helix/hosted-segments.js';
import { clusterPaths } from '../../src/helix/paths.js';
import { ZkSession } from '../../src/helix/zk-session.js';
import { waitUntil } from '../chaos/wait.js';
import { runCli } from '../helpers/cli.js';
import {
  archiveCrcOfFile,
  download,
  percentile,
  recordText,
  simpleFieldsOf,
  untarDigest,
  withUrlReplaced,
} from './harness/checks.js';
import { CLUSTER_NAME, RealPinotCluster, type PinotServer } from './harness/cluster.js';
import { resolvePinotJars, type PinotJars } from './harness/jars.js';
import { forget, remember } from './harness/leftovers.js';
import { SidecarFleet, type SidecarProcess } from './harness/sidecars.js';
import { createTable, produceRows, segmentRows, tableNameWithType, type SuiteTable } from './harness/tables.js';
import { ZnodeHistory } from './harness/znode-history.js';

/**
 * The sidecar beside a real Apache Pinot cluster (issue 11): controller, broker, two servers and Kafka from Pinot's
 * release jars, the deep store broken while real segments commit, the sidecars repairing, Pinot loading what they
 * wrote. Each `it` is one item of the issue and asserts on real state (ZooKeeper bytes, files, HTTP answers,
 * query results); they run in order on one cluster. `npm run test:pinot` runs it (test/pinot/run.ts).
 */

const URL_KEY = 'segment.download.url';

/** Sidecars alone repair it (item 1, 2, 3, 4). */
const EVENTS: SuiteTable = { name: 'events', partitions: 2, flushRows: 100, payloadChars: 16 };
/** The controller's own repair runs on it at the same time as the sidecars (item 5). */
const RACES: SuiteTable = { name: 'races', partitions: 2, flushRows: 100, payloadChars: 16 };
/** One large segment, so that a sidecar can be killed while it uploads (item 6). */
const BULKY: SuiteTable = { name: 'bulky', partitions: 1, flushRows: 4000, payloadChars: 4096 };
/** Deep store never broken: what Pinot itself writes on a normal commit. */
const HEALTHY: SuiteTable = { name: 'healthy', partitions: 1, flushRows: 100, payloadChars: 16 };
const BROKEN = [EVENTS, RACES, BULKY];
const ROWS: Record<string, number> = { events: 400, races: 200, bulky: 4000, healthy: 100 };

const committedSegments = (t: SuiteTable): number => ROWS[t.name]! / segmentRows(t);

const report = {
  version: '',
  clusterUpSeconds: 0,
  committed: 0,
  repairedBySidecars: 0,
  repairedByController: 0,
  restoreToUrlMs: [] as number[],
  /** BULKY's segment: its first uploader is killed, so its URL waits for the lock to expire. */
  killedRestoreToUrlMs: null as number | null,
  queriesChecked: 0,
  repairRunAfterRestore: '',
  history: { znodes: 0, versions: 0, gaps: 0 },
  controllerOverwrites: 0,
  kill: '',
  notes: [] as string[],
};

let jars: PinotJars;
let runDir: string;
let cluster: RealPinotCluster;
let session: ZkSession;
let history: ZnodeHistory;
let fleet: SidecarFleet;
/** When BULKY's table folder came back, and when the other tables' did (after the kill). */
let restoredAt = 0;
let othersRestoredAt = 0;
/** Raw bytes of every broken table's DONE segment just before the deep store is restored. */
const beforeRestore = new Map<string, { version: number; bytes: Buffer }>();
const paths = clusterPaths(CLUSTER_NAME);
const progress = (line: string): void => void process.stderr.write(`[real-pinot] ${line}\n`);

async function segmentRecords(
  t: SuiteTable,
): Promise<Map<string, { fields: Record<string, string>; bytes: Buffer; version: number; mtimeMs: number }>> {
  const table = tableNameWithType(t);
  const out = new Map<string, { fields: Record<string, string>; bytes: Buffer; version: number; mtimeMs: number }>();
  const { children } = await session.getChildren(paths.tableSegments(table));
  for (const segment of children.sort()) {
    const { data, stat: st } = await session.getData(paths.segmentMetadata(table, segment));
    const bytes = data ?? Buffer.alloc(0);
    out.set(segment, { fields: simpleFieldsOf(bytes), bytes, version: st.version, mtimeMs: st.mtimeMs });
  }
  return out;
}

async function doneSegments(
  t: SuiteTable,
): Promise<Map<string, { fields: Record<string, string>; bytes: Buffer; version: number; mtimeMs: number }>> {
  const all = await segmentRecords(t).catch(() => new Map());
  return new Map([...all].filter(([, r]) => r.fields['segment.realtime.status'] === 'DONE'));
}

async function externalView(t: SuiteTable): Promise<Record<string, Record<string, string>>> {
  const ev = await cluster.controllerJson<{ REALTIME: Record<string, Record<string, string>> | null }>(
    `/tables/${t.name}/externalview`,
  );
  return ev.REALTIME ?? {};
}

/** The server's replicas by the controller's external view: segment → state for this instance. */
async function evColumn(t: SuiteTable, server: PinotServer): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [segment, replicas] of Object.entries(await externalView(t))) {
    const state = replicas[server.instance];
    if (state !== undefined) out[segment] = state;
  }
  return out;
}

/** The sidecar library's hosted-segment view of one server (HostedSegments, the tracker `serve` runs). */
async function hostedView(server: PinotServer, t: SuiteTable): Promise<Record<string, string>> {
  // A session of its own per look: a tracker's watches and listeners end with it.
  const own = new ZkSession({ connectString: cluster.zkAddress, sessionTimeoutMs: 10_000 });
  own.start();
  const tracker = new HostedSegments({ session: own, cluster: CLUSTER_NAME, instance: server.instance });
  try {
    await own.waitConnected();
    await tracker.start();
    await tracker.waitSynced();
    return Object.fromEntries([...tracker.segments(tableNameWithType(t))].map(([s, e]) => [s, e.state]));
  } finally {
    tracker.stop();
    await own.close();
  }
}

async function assertHostedViewMatchesController(label: string): Promise<void> {
  for (const server of cluster.servers) {
    for (const t of [...BROKEN, HEALTHY]) {
      let last: unknown;
      await waitUntil(
        `${label}: ${server.instance} ${t.name} hosted view equals the controller's external view (last: ${JSON.stringify(last)})`,
        async () => {
          const [hosted, ev] = await Promise.all([hostedView(server, t), evColumn(t, server)]);
          last = { hosted, ev };
          return JSON.stringify(sortKeys(hosted)) === JSON.stringify(sortKeys(ev));
        },
        { timeoutMs: 60_000, intervalMs: 1_000 },
      );
    }
  }
}

function sortKeys(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}

async function waitRowCount(table: string, expected: number): Promise<void> {
  let seen: number | string = 'none';
  await waitUntil(
    `SELECT COUNT(*) FROM ${table} = ${expected} (last ${seen})`,
    async () => {
      seen = await cluster.countRows(table).catch((e: unknown) => String(e));
      return seen === expected;
    },
    { timeoutMs: 120_000, intervalMs: 1_000 },
  );
  report.queriesChecked += 1;
}

async function triggerControllerRepair(t: SuiteTable): Promise<void> {
  await cluster.controllerJson(
    `/periodictask/run?taskname=RealtimeSegmentValidationManager&tableName=${t.name}&type=REALTIME`,
  );
}

function canonicalUrl(t: SuiteTable, segment: string): string {
  return segmentUri(cluster.deepStoreUri, t.name, segment);
}

beforeAll(async () => {
  const resolved = await resolvePinotJars();
  if ('skip' in resolved)
    throw new Error(`the jars did not resolve (run through npm run test:pinot, which skips): ${resolved.skip}`);
  jars = resolved;
  report.version = jars.version;
  runDir = await mkdtemp(path.join(tmpdir(), 'pinot-sidecar-realpinot-'));
  remember('dir', runDir);
  const t0 = Date.now();
  cluster = new RealPinotCluster(jars, runDir, {
    controllerConf: {
      // The controller's own repair (item 5), run only when the suite triggers it (for RACES): its first scheduled
      // run is pushed past the suite's end, and every triggered run does segment-level validation.
      'controller.realtime.segment.deepStoreUploadRetryEnabled': 'true',
      'controller.realtime.segment.validation.initialDelayInSeconds': '3600',
      'controller.segment.level.validation.intervalPeriod': '1s',
    },
  });
  await cluster.start(progress);
  report.clusterUpSeconds = Math.round((Date.now() - t0) / 1000);

  session = new ZkSession({ connectString: cluster.zkAddress, sessionTimeoutMs: 30_000 });
  session.start();
  await session.waitConnected();
  history = new ZnodeHistory(session, `${paths.propertyStore}/SEGMENTS`);
  await history.start();

  // The deep store breaks for three tables: a regular file where <controller.data.dir>/<rawTable> must be created.
  // The servers' upload (PeerSchemeSplitSegmentCommitter) fails, the location becomes peer:///, the controller
  // stores "" as segment.download.url (probe finding, Pinot 0.11).
  for (const t of BROKEN)
    await writeFile(
      path.join(cluster.deepStoreDir, t.name),
      'not a directory: the deep store is broken for this table\n',
    );
  for (const t of [...BROKEN, HEALTHY]) await createTable(cluster, t);
  fleet = new SidecarFleet(cluster, runDir);
  for (const server of cluster.servers) await fleet.start(server);
  for (const t of [...BROKEN, HEALTHY]) await produceRows(cluster, t, { count: ROWS[t.name]!, firstId: 0 });
  for (const t of [...BROKEN, HEALTHY]) {
    await waitUntil(
      `${t.name}: ${committedSegments(t)} segments DONE`,
      async () => (await doneSegments(t)).size >= committedSegments(t),
      {
        timeoutMs: 180_000,
        intervalMs: 1_000,
      },
    );
    report.committed += committedSegments(t);
  }
  progress(`${report.committed} segments committed`);
  failed = false;
}, 600_000);

/** Until beforeAll has finished, a failure is the setup's. */
let failed = true;
afterEach((context) => {
  if (context.task.result?.state === 'fail') failed = true;
});

afterAll(async () => {
  const codes = fleet ? await fleet.stopAll() : [];
  history?.stop();
  await session?.close();
  if (cluster) await cluster.stop({ keepRunDir: true });
  if (runDir) {
    if (failed) {
      // The logs of a failed run outlive it (the only thing that does): Pinot's, ZooKeeper's and each sidecar's.
      const kept = await mkdtemp(path.join(tmpdir(), 'pinot-sidecar-realpinot-logs-'));
      await cp(path.join(runDir, 'logs'), kept, { recursive: true }).catch(() => undefined);
      progress(`a test failed: logs kept in ${kept}`);
    }
    await rm(runDir, { recursive: true, force: true });
    forget('dir', runDir);
  }
  printReport(codes);
}, 180_000);

describe(`the sidecar beside a real Apache Pinot cluster`, () => {
  it('1a. with the deep store broken, real commits end DONE with segment.download.url "" (the scenario is real)', async () => {
    for (const t of BROKEN) {
      const done = await doneSegments(t);
      expect(done.size).toBe(committedSegments(t));
      for (const [segment, r] of done) expect(r.fields[URL_KEY], `${segment}`).toBe('');
    }
    // What Pinot writes when its deep store works: the controller's own http URL (not the file:// object).
    for (const [segment, r] of await doneSegments(HEALTHY)) {
      expect(r.fields[URL_KEY]).toBe(`${cluster.controllerUrl}/segments/${HEALTHY.name}/${segment}`);
    }
    // The sidecars tried, were refused with a clear reason, and wrote nothing.
    const failures = fleet.eventsOf('upload_failure');
    expect(failures.length).toBeGreaterThan(0);
    expect(new Set(failures.map((f) => f.reason))).toEqual(new Set(['TableFolderBlocked']));
    expect(fleet.eventsOf('upload_success')).toEqual([]);
  });

  it('4a. observability agrees with Pinot while broken: hosted view = external view, segments_missing_deep_store = DONE "" count', async () => {
    await assertHostedViewMatchesController('broken');
    for (const proc of fleet.current.values()) {
      for (const t of BROKEN) {
        await waitUntil(
          `${proc.label} segments_missing_deep_store{${t.name}}`,
          async () =>
            (await proc.metric(`pinot_sidecar_segments_missing_deep_store{table="${tableNameWithType(t)}"}`)) ===
            committedSegments(t),
          { timeoutMs: 30_000 },
        );
      }
      expect(
        await proc.metric(`pinot_sidecar_segments_missing_deep_store{table="${tableNameWithType(HEALTHY)}"}`),
      ).toBe(0);
    }
  });

  it('3a. a segment that only the servers hold: the real server and the sidecar serve identical trees; fetch finds it on the peers', async () => {
    const [segment] = [...(await doneSegments(EVENTS)).keys()];
    const table = tableNameWithType(EVENTS);
    const server = cluster.servers[0]!;
    const sidecar = fleet.current.get(server.index)!;
    const dir = path.join(runDir, 'downloads', 'broken');
    await mkdir(dir, { recursive: true });
    expect(
      await download(
        `http://localhost:${server.adminPort}/segments/${table}/${segment}`,
        path.join(dir, 'server.tar.gz'),
      ),
    ).toBe(200);
    expect(await download(sidecar.url(`/segments/${table}/${segment}`), path.join(dir, 'sidecar.tar.gz'))).toBe(200);
    const fromServer = await untarDigest(path.join(dir, 'server.tar.gz'), path.join(dir, 'server'));
    const fromSidecar = await untarDigest(path.join(dir, 'sidecar.tar.gz'), path.join(dir, 'sidecar'));
    expect(fromServer.size).toBeGreaterThan(2);
    expect(fromSidecar).toEqual(fromServer);

    // URL "": `fetch` goes to the replicas ONLINE in the external view (this sidecar's port, else the admin ports).
    const out = path.join(dir, 'fetched');
    const fetched = await runCli([
      'fetch',
      table,
      segment!,
      '--out',
      out,
      '--zk',
      cluster.zkAddress,
      '--cluster',
      CLUSTER_NAME,
      '--peer-port',
      String(sidecar.port),
      '--json',
    ]);
    expect(fetched.code, fetched.stdout + fetched.stderr).toBe(0);
    // From whichever replica answered: the same segment (files, CRC); creation.meta's build time may differ.
    expect(withoutCreationMeta(await untarDigestOfDir(path.join(out, segment!)))).toEqual(
      withoutCreationMeta(fromServer),
    );

    // A healthy segment: its URL is the controller's http endpoint, which `fetch` follows.
    const [healthySegment] = [...(await doneSegments(HEALTHY)).keys()];
    const fetchedHealthy = await runCli([
      'fetch',
      tableNameWithType(HEALTHY),
      healthySegment!,
      '--out',
      out,
      '--zk',
      cluster.zkAddress,
      '--cluster',
      CLUSTER_NAME,
      '--json',
    ]);
    expect(fetchedHealthy.code, fetchedHealthy.stdout + fetchedHealthy.stderr).toBe(0);
  });

  it("5a. the controller's own repair fails while the deep store is broken and writes nothing", async () => {
    const before = await doneSegments(RACES);
    const log = cluster.controller.log().length;
    await triggerControllerRepair(RACES);
    await waitUntil(
      'the controller tried every RACES segment',
      () => countMatches(cluster.controller.log().slice(log), 'Failed to upload segment races__') >= before.size,
      {
        timeoutMs: 60_000,
      },
    );
    const after = await doneSegments(RACES);
    for (const [segment, r] of before) expect(after.get(segment)?.version, segment).toBe(r.version);
  });

  it('1b/5b/6. restore: every segment gets exactly one URL; sidecars never overwrite one; a sidecar SIGKILLed mid-upload changes nothing', async () => {
    for (const t of BROKEN)
      for (const [segment, r] of await doneSegments(t))
        beforeRestore.set(`${t.name}/${segment}`, { version: r.version, bytes: r.bytes });

    // Restore, BULKY first: its table folder comes back alone, so the first upload that starts (the one the
    // watcher kills) is BULKY's big segment, whose upload lasts long enough to be caught mid-way. Every upload
    // writes into the file store's temp folder, watched from before the restore.
    const tempFolder = path.join(cluster.deepStoreDir, TEMP_FOLDER);
    await mkdir(tempFolder, { recursive: true });
    const kill = armKillOnFirstTempFile(tempFolder);
    await rm(path.join(cluster.deepStoreDir, BULKY.name));
    restoredAt = Date.now();
    // What the runbook says after fixing a permanent failure: POST /repair/run (failed segments are tried at once).
    const askRepair = async (): Promise<string[]> =>
      Promise.all(
        [...fleet.current.values()]
          .filter((p) => p.alive)
          .map((p) =>
            p.json<{ accepted?: boolean }>('/repair/run', { method: 'POST' }).then(
              () => `${p.label} accepted`,
              (err: unknown) => `${p.label}: ${String(err)}`,
            ),
          ),
      );
    const firstAsk = await askRepair();

    // The controller's repair of RACES runs again and again meanwhile.
    let racing = true;
    const controllerLoop = (async () => {
      while (racing) {
        await triggerControllerRepair(RACES).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 1_000));
      }
    })();
    try {
      const killed = await kill.done;
      report.kill = killed.note;
      // The other tables come back; the operator asks once more; the killed sidecar is started again.
      for (const t of BROKEN) if (t !== BULKY) await rm(path.join(cluster.deepStoreDir, t.name));
      othersRestoredAt = Date.now();
      if (killed.server) await fleet.start(killed.server);
      const secondAsk = await askRepair();
      report.repairRunAfterRestore = [...firstAsk, ...secondAsk].join('; ');
      await waitUntil(
        'every broken table segment has a URL',
        async () => {
          for (const t of BROKEN)
            for (const r of (await doneSegments(t)).values()) if (r.fields[URL_KEY] === '') return false;
          return true;
        },
        { timeoutMs: 180_000, intervalMs: 500 },
      );
    } finally {
      racing = false;
      kill.cancel();
      await controllerLoop;
    }

    // 1b. Sidecar-only tables: exactly one write per segment, only the URL changed, the canonical object verifies.
    for (const t of [EVENTS, BULKY]) {
      for (const [segment, r] of await doneSegments(t)) {
        const before = beforeRestore.get(`${t.name}/${segment}`)!;
        const url = canonicalUrl(t, segment);
        expect(r.fields[URL_KEY], segment).toBe(url);
        expect(r.version, `${segment}: one write since the restore`).toBe(before.version + 1);
        expect(recordText(r.bytes), `${segment}: every byte but the URL's is unchanged`).toBe(
          withUrlReplaced(recordText(before.bytes), url),
        );
        const writers = fleet.eventsOf('upload_success', segment);
        expect(writers.map((w) => w.proc.server.index).length, `${segment}: one sidecar reported the write`).toBe(1);
        const file = path.join(cluster.deepStoreDir, t.name, segment);
        expect(await archiveCrcOfFile(file), `${segment}: the object's creation.meta CRC`).toBe(
          r.fields['segment.crc'],
        );
        if (t === BULKY) report.killedRestoreToUrlMs = r.mtimeMs - restoredAt;
        else report.restoreToUrlMs.push(r.mtimeMs - othersRestoredAt);
        report.repairedBySidecars += 1;
      }
    }

    // 5b. RACES: whoever won, a URL is never replaced by a sidecar, and every URL names an object that verifies.
    for (const [segment, r] of await doneSegments(RACES)) {
      const url = r.fields[URL_KEY]!;
      const file = new URL(url).pathname;
      expect(await archiveCrcOfFile(decodeURIComponent(file)), `${segment}: ${url}`).toBe(r.fields['segment.crc']);
      if (url === canonicalUrl(RACES, segment)) report.repairedBySidecars += 1;
      else report.repairedByController += 1;
    }
    const overwrites = urlOverwrites();
    report.controllerOverwrites = overwrites.filter((o) => !o.bySidecar).length;
    expect(
      overwrites.filter((o) => o.bySidecar),
      'URLs overwritten by a sidecar',
    ).toEqual([]);
    expect(history.errors).toEqual([]);

    // 6. The killed upload left its temp file (proof the kill landed mid-upload) and no second URL.
    const killed = await kill.done;
    expect(killed.tempLeft, killed.note).toBe(true);
  });

  it('4b. after the repair: segments_missing_deep_store is 0 on every sidecar; hosted view still equals the external view', async () => {
    for (const proc of fleet.current.values()) {
      for (const t of BROKEN) {
        await waitUntil(
          `${proc.label} segments_missing_deep_store{${t.name}} = 0`,
          async () =>
            (await proc.metric(`pinot_sidecar_segments_missing_deep_store{table="${tableNameWithType(t)}"}`)) === 0,
          { timeoutMs: 30_000 },
        );
      }
    }
    await assertHostedViewMatchesController('repaired');
    report.notes.push(
      'pauseless (item 4: pauseless_consumption_enabled, pauselessDebugInfo) skipped: pauselessConsumptionEnabled needs Apache Pinot >= 1.4; the registry serves no 1.x pinot-tools/pinot-server',
    );
  });

  it("2. Pinot accepts what the sidecar wrote: the controller's API shows it; a wiped server downloads it from the deep store; counts unchanged", async () => {
    for (const t of [EVENTS, BULKY]) {
      for (const segment of (await doneSegments(t)).keys()) {
        const meta = await cluster.controllerJson<Record<string, string>>(`/segments/${t.name}/${segment}/metadata`);
        expect(meta[URL_KEY], segment).toBe(canonicalUrl(t, segment));
      }
    }
    for (const t of [...BROKEN, HEALTHY]) await waitRowCount(t.name, ROWS[t.name]!);

    const server = cluster.servers[1]!;
    const logFrom = server.service.log().length;
    await cluster.restartServer(server, { wipeDataDir: true });
    for (const t of [...BROKEN, HEALTHY]) {
      const done = await doneSegments(t);
      await waitUntil(
        `${server.instance} has every ${t.name} segment ONLINE again`,
        async () => {
          const ev = await evColumn(t, server);
          return [...done.keys()].every((s) => ev[s] === 'ONLINE');
        },
        { timeoutMs: 120_000, intervalMs: 1_000 },
      );
    }
    const log = server.service.log().slice(logFrom);
    for (const t of [EVENTS, BULKY]) {
      for (const [segment, r] of await doneSegments(t)) {
        // BaseTableDataManager: "Downloaded file from <uri> to <dest>; Length of downloaded file: <n>".
        expect(log, `${segment} downloaded from the sidecar's object`).toContain(
          `Downloaded file from ${canonicalUrl(t, segment)} to `,
        );
        const meta = await readFile(
          path.join(server.dataDir, tableNameWithType(t), segment, 'v3', 'creation.meta'),
        ).catch(() => readFile(path.join(server.dataDir, tableNameWithType(t), segment, 'creation.meta')));
        expect(crcFromCreationMeta(meta), `${segment} loaded with the ZK CRC`).toBe(r.fields['segment.crc']);
      }
    }
    expect(log).not.toMatch(/from peer/i);
    for (const t of [...BROKEN, HEALTHY]) await waitRowCount(t.name, ROWS[t.name]!);
  });

  it('3b. after the repair: the real server and the sidecar serve identical trees; fetch takes the deep-store URI', async () => {
    const table = tableNameWithType(EVENTS);
    const [segment] = [...(await doneSegments(EVENTS)).keys()];
    const dir = path.join(runDir, 'downloads', 'repaired');
    await mkdir(dir, { recursive: true });
    for (const server of cluster.servers) {
      const sidecar = fleet.current.get(server.index)!;
      expect(
        await download(
          `http://localhost:${server.adminPort}/segments/${table}/${segment}`,
          path.join(dir, `server${server.index}.tar.gz`),
        ),
      ).toBe(200);
      expect(
        await download(sidecar.url(`/segments/${table}/${segment}`), path.join(dir, `sidecar${server.index}.tar.gz`)),
      ).toBe(200);
    }
    // Each sidecar serves exactly its server's copy. The two servers' copies are the same segment (same files,
    // same CRC) but need not be the same bytes: each replica's creation.meta holds the time it was built (or
    // downloaded, for the server wiped in item 2).
    const trees = new Map<string, Map<string, string>>();
    for (const name of ['server1', 'server2', 'sidecar1', 'sidecar2'])
      trees.set(name, await untarDigest(path.join(dir, `${name}.tar.gz`), path.join(dir, name)));
    for (const n of [1, 2])
      expect(trees.get(`sidecar${n}`), `sidecar${n} serves server${n}'s copy`).toEqual(trees.get(`server${n}`));
    expect(withoutCreationMeta(trees.get('server2')!)).toEqual(withoutCreationMeta(trees.get('server1')!));
    const crc = (await doneSegments(EVENTS)).get(segment!)!.fields['segment.crc'];
    for (const name of trees.keys())
      expect(await archiveCrcOfFile(path.join(dir, `${name}.tar.gz`)), `${name}: creation.meta CRC`).toBe(crc);
    // `fetch` takes the deep-store URI, and what it gets is the object the sidecar uploaded: one replica's copy.
    const out = path.join(dir, 'fetched');
    const fetched = await runCli([
      'fetch',
      table,
      segment!,
      '--out',
      out,
      '--zk',
      cluster.zkAddress,
      '--cluster',
      CLUSTER_NAME,
      '--json',
    ]);
    expect(fetched.code, fetched.stdout + fetched.stderr).toBe(0);
    expect(fetched.stdout).toContain(canonicalUrl(EVENTS, segment!));
    expect([trees.get('server1'), trees.get('server2')]).toContainEqual(
      await untarDigestOfDir(path.join(out, segment!)),
    );
  });
});

/** A segment's tree without its creation.meta files (their creation time differs between replicas). */
function withoutCreationMeta(tree: Map<string, string>): Map<string, string> {
  return new Map([...tree].filter(([name]) => path.basename(name) !== 'creation.meta'));
}

/** A fetched segment folder digested like an untarred archive (its parent holds `<segment>/`). */
async function untarDigestOfDir(segmentDir: string): Promise<Map<string, string>> {
  const { digestTree } = await import('../helpers/tree.js');
  const inner = await digestTree(segmentDir);
  const name = path.basename(segmentDir);
  return new Map([[name, 'dir'], ...[...inner].map(([k, v]) => [`${name}/${k}`, v] as [string, string])]);
}

function countMatches(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

/**
 * Every change of a non-empty URL to another value, from the recorded history. A sidecar writes only the
 * canonical URL, and only over "": a change to the canonical URL from a non-empty one would be a sidecar's
 * overwrite; a change away from it is the controller's unconditional write (version -1) over a sidecar's.
 */
function urlOverwrites(): Array<{ path: string; from: string; to: string; bySidecar: boolean }> {
  const out: Array<{ path: string; from: string; to: string; bySidecar: boolean }> = [];
  let versions = 0;
  for (const [znode, list] of history.versions) {
    versions += list.length;
    const [, , , , table, segment] = znode.split('/');
    const raw = table!.replace(/_REALTIME$/, '');
    for (let i = 1; i < list.length; i++) {
      const from = simpleFieldsOf(list[i - 1]!.data)[URL_KEY] ?? '';
      const to = simpleFieldsOf(list[i]!.data)[URL_KEY] ?? '';
      if (from !== '' && to !== from)
        out.push({ path: znode, from, to, bySidecar: to === segmentUri(cluster.deepStoreUri, raw, segment!) });
    }
  }
  report.history = { znodes: history.versions.size, versions, gaps: history.gaps() };
  return out;
}

/**
 * Item 6: when the first sidecar temp file appears in `folder`, freeze both sidecars (SIGSTOP: the upload cannot
 * finish meanwhile), find the one holding the file open, SIGKILL it and let the other go on. `tempLeft` says
 * whether the kill landed mid-upload (the temp file is still there, the URL still "").
 */
function armKillOnFirstTempFile(folder: string): {
  done: Promise<{ server: PinotServer | null; tempLeft: boolean; note: string }>;
  /** The process it killed (at most one). */
  killed: Set<SidecarProcess>;
  cancel: () => void;
} {
  const killed = new Set<SidecarProcess>();
  let settle: (v: { server: PinotServer | null; tempLeft: boolean; note: string }) => void = () => undefined;
  const done = new Promise<{ server: PinotServer | null; tempLeft: boolean; note: string }>(
    (resolve) => (settle = resolve),
  );
  let fired = false;
  const watcher: FSWatcher = watch(folder, (_event, name) => {
    if (fired || !name || !isTempFileName(String(name))) return;
    fired = true;
    const procs = [...fleet.current.values()].filter((p) => p.alive);
    for (const p of procs) process.kill(p.pid, 'SIGSTOP');
    void (async () => {
      const temp = path.join(folder, String(name));
      let writer: SidecarProcess | undefined;
      for (const p of procs) if (await holdsOpen(p.pid, temp)) writer = p;
      const tempThere = await stat(temp).then(
        () => true,
        () => false,
      );
      if (writer) {
        killed.add(writer);
        fleet.killNow(writer);
      }
      for (const p of procs) if (p !== writer) process.kill(p.pid, 'SIGCONT');
      if (writer) process.kill(writer.pid, 'SIGCONT');
      watcher?.close();
      if (writer) await writer.cli.exited;
      const tempLeft =
        tempThere &&
        (await stat(temp).then(
          () => true,
          () => false,
        ));
      settle({
        server: writer?.server ?? null,
        tempLeft,
        note: writer
          ? `${writer.label} SIGKILLed while writing ${path.basename(temp)} (temp file left: ${tempLeft})`
          : `no sidecar held ${temp} open when frozen`,
      });
    })();
  });
  return {
    done,
    killed,
    cancel: () => {
      watcher?.close();
      if (!fired) settle({ server: null, tempLeft: false, note: 'no sidecar temp file appeared' });
    },
  };
}

async function holdsOpen(pid: number, file: string): Promise<boolean> {
  const fdDir = `/proc/${pid}/fd`;
  for (const fd of await readdir(fdDir).catch(() => []))
    if ((await readlink(path.join(fdDir, fd)).catch(() => '')) === file) return true;
  return false;
}

function printReport(sidecarExits: string[]): void {
  const ms = (v: number | null): string => (v === null ? 'n/a' : `${(v / 1000).toFixed(2)} s`);
  const lines = [
    '',
    `Apache Pinot ${report.version} (controller, broker, 2 servers, embedded Kafka; cluster up in ${report.clusterUpSeconds} s)`,
    `segments committed         ${report.committed} (deep store broken for ${BROKEN.length} tables: every one DONE with URL "")`,
    `repaired                   ${report.repairedBySidecars} by sidecars, ${report.repairedByController} by the controller's own repair (races table)`,
    `restore -> URL (sidecars)  p50 ${ms(percentile(report.restoreToUrlMs, 50))}, p99 ${ms(percentile(report.restoreToUrlMs, 99))}, n=${report.restoreToUrlMs.length} (deep store restored, then POST /repair/run)`,
    `restore -> URL (killed)    ${ms(report.killedRestoreToUrlMs)} (first uploader SIGKILLed; its upload lock lasts until its ZooKeeper session expires)`,
    `POST /repair/run at restore ${report.repairRunAfterRestore || 'n/a'}`,
    `queries checked            ${report.queriesChecked} (SELECT COUNT(*) through the broker)`,
    `znode history              ${report.history.znodes} segment znodes, ${report.history.versions} versions recorded, ${report.history.gaps} gaps; URLs overwritten by the controller ${report.controllerOverwrites}, by a sidecar 0 checked`,
    `kill mid-upload            ${report.kill || 'n/a'}`,
    `sidecar exits at the end   ${sidecarExits.join(', ')}`,
    ...report.notes.map((n) => `skipped                    ${n}`),
    '',
  ];
  process.stdout.write(lines.join('\n'));
}
