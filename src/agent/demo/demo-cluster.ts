import path from 'node:path';
import type { DeepStore } from '../../deepstore/index.js';
import type { ZkSession } from '../../helix/index.js';
import { rawTableName } from '../../pinot-format/index.js';
import { planSegmentArchive, SegmentStore, streamSegmentArchive } from '../../segments/index.js';
import { PinotClusterSeeder, type SegmentFields } from './cluster-seeder.js';
import { generateSegment } from './segment-generator.js';

export const DEMO_CLUSTER = 'DemoCluster';
export const DEMO_INSTANCE = 'Server_127.0.0.1_8098';

/** What the demo seeds, so the command can explain what it expects to happen. */
export interface DemoSegment {
  table: string;
  segment: string;
  /** Replica state in this server's current state. */
  state: 'ONLINE' | 'CONSUMING' | 'ERROR';
  zk: SegmentFields;
  /** Local copy on the server's disk. */
  local: boolean;
  /** Copy already in the deep store (its URL is set). */
  inDeepStore?: boolean;
  note: string;
}

const seg = (table: string, partition: number, seq: number) => `${table}__${partition}__${seq}__20261122T0000Z`;

/**
 * Two realtime tables on one server, one of them pauseless: segments committed while the deep store
 * was down (URL ""), one commit stuck in COMMITTING, one consuming segment, one replica in ERROR on
 * every server, and healthy segments with deep-store copies (docs/pinot-interop.md, "Segment metadata",
 * "Pauseless").
 */
export const DEMO_SEGMENTS: DemoSegment[] = [
  {
    table: 'clicks_REALTIME',
    segment: seg('clicks', 0, 0),
    state: 'ONLINE',
    zk: {},
    local: true,
    inDeepStore: true,
    note: 'healthy: in the deep store',
  },
  {
    table: 'clicks_REALTIME',
    segment: seg('clicks', 0, 1),
    state: 'ONLINE',
    zk: { downloadUrl: '' },
    local: true,
    note: 'committed while the deep store was down',
  },
  {
    table: 'clicks_REALTIME',
    segment: seg('clicks', 1, 0),
    state: 'ONLINE',
    zk: { downloadUrl: '' },
    local: true,
    note: 'committed while the deep store was down',
  },
  {
    table: 'clicks_REALTIME',
    segment: seg('clicks', 1, 1),
    state: 'ONLINE',
    zk: { status: 'COMMITTING' },
    local: true,
    note: 'pauseless commit stuck in COMMITTING (never written)',
  },
  {
    table: 'clicks_REALTIME',
    segment: seg('clicks', 0, 2),
    state: 'CONSUMING',
    zk: { status: 'IN_PROGRESS' },
    local: false,
    note: 'consuming',
  },
  {
    table: 'clicks_REALTIME',
    segment: seg('clicks', 1, 2),
    state: 'ERROR',
    zk: {},
    local: false,
    inDeepStore: true,
    note: 'replica in ERROR on every server',
  },
  {
    table: 'orders_REALTIME',
    segment: seg('orders', 0, 0),
    state: 'ONLINE',
    zk: { downloadUrl: '' },
    local: true,
    note: 'committed while the deep store was down',
  },
  {
    table: 'orders_REALTIME',
    segment: seg('orders', 0, 1),
    state: 'ONLINE',
    zk: {},
    local: true,
    inDeepStore: true,
    note: 'healthy: in the deep store',
  },
];

/** Seed ZooKeeper and the server's data dir; healthy segments are uploaded to the deep store first. */
export async function seedDemoCluster(
  session: ZkSession,
  dataDir: string,
  deepStore: DeepStore,
): Promise<PinotClusterSeeder> {
  const seed = new PinotClusterSeeder(session, DEMO_CLUSTER);
  // A short completion time so the stuck commit shows within seconds (Pinot's default is 300 s).
  await seed.createCluster({ 'max.segment.completion.time.millis': '10000' });
  const live = await seed.addInstance(DEMO_INSTANCE, { host: '127.0.0.1', adminPort: 8097 });
  await seed.addTable('clicks_REALTIME', { pauseless: true, replication: 1 });
  await seed.addTable('orders_REALTIME', { pauseless: false, replication: 1 });
  const store = new SegmentStore(dataDir);
  const states: Record<string, Record<string, string>> = {};
  for (const s of DEMO_SEGMENTS) {
    let crc: string | undefined;
    if (s.local || s.inDeepStore) crc = (await generateSegment(path.join(dataDir, s.table), s.segment)).crc;
    let downloadUrl = s.zk.downloadUrl;
    if (s.inDeepStore) {
      downloadUrl = deepStore.segmentUri(rawTableName(s.table), s.segment);
      const plan = await planSegmentArchive(await store.resolve(s.table, s.segment), { justResolved: true });
      await deepStore.put(downloadUrl, streamSegmentArchive(plan), { crc: crc! });
    }
    await seed.putSegment(s.table, s.segment, {
      ...s.zk,
      ...(crc ? { crc } : {}),
      ...(downloadUrl === undefined ? {} : { downloadUrl }),
    });
    (states[s.table] ??= {})[s.segment] = s.state;
  }
  for (const [table, tableStates] of Object.entries(states)) {
    await seed.setCurrentState(DEMO_INSTANCE, live, table, tableStates);
    const view = Object.fromEntries(
      Object.entries(tableStates).map(([segment, state]) => [segment, { [DEMO_INSTANCE]: state }]),
    );
    await seed.setExternalView(table, view);
    await seed.setExternalView(table, view, { idealState: true });
  }
  await seed.putPauselessDebug(
    'clicks_REALTIME',
    DEMO_SEGMENTS.filter((s) => s.zk.status === 'COMMITTING').map((s) => s.segment),
  );
  return seed;
}
