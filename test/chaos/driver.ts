import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { cp, rm } from 'node:fs/promises';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { generateSegment } from '../../src/agent/demo/segment-generator.js';
import { segmentRecord } from '../../src/agent/demo/cluster-seeder.js';
import { segmentUri } from '../../src/deepstore/index.js';
import { isZkCode } from '../../src/helix/errors.js';
import { parseZNRecord, serializeZNRecord, type ZNRecord } from '../../src/helix/znrecord.js';
import type { ZkStat } from '../../src/helix/zk-session.js';
import { rawTableName } from '../../src/pinot-format/index.js';
import { planSegmentArchive, SegmentStore, streamSegmentArchive } from '../../src/segments/index.js';
import { buildSegment } from '../helpers/segment-builder.js';
import { Ledger, mustBeRepaired, type Inspection, type SegmentEntry, type SegmentKind } from './ledger.js';
import type { ChaosPlan } from './options.js';
import type { Rng } from '../helpers/rng.js';
import { sleep } from './wait.js';
import { BUCKET, DEEP_STORE_URI, RETENTION_MS, TABLES, type ChaosWorld, type SimServer } from './world.js';

/**
 * The driver plays Pinot's controller and the servers' Helix participants:
 *
 * - commits segments: the replicas' local directories first (two or three servers; identical copies, or one
 *   replica with a build of its own for `divergent`), then the ZK metadata as the controller leaves it
 *   (DONE with URL "" and the CRC, or COMMITTING, or a CRC no replica has, ...), then each replica ONLINE in
 *   its server's current state;
 * - commits pauseless COMMITTING segments later (a versioned write, as updateSegmentZKMetadataToDone does: it
 *   fails if anyone wrote the COMMITTING record meanwhile), or leaves them stuck;
 * - deletes the oldest segments (retention): the znode, the replicas' current-state entries and local dirs,
 *   and the deep-store object;
 * - sometimes repairs a segment itself the way the controller does: uploads the archive to the canonical key,
 *   then writes a snapshot taken earlier with the URL set, unconditionally (version -1).
 *
 * Every write is recorded in the ledger (ledger.ts) with the version it produced.
 */

const KIND_WEIGHTS: ReadonlyArray<[SegmentKind, number]> = [
  ['eligible', 56],
  ['divergent', 8],
  ['large', 2],
  ['crc_mismatch', 8],
  ['committing', 12],
  ['near_retention', 7],
  ['no_url_key', 7],
];
const LARGE_PAYLOAD_BYTES = 17 * 1024 * 1024;
const URL_KEY = 'segment.download.url';

export interface DriverStats {
  committed: Record<SegmentKind, number>;
  committingCompleted: number;
  deleted: number;
  deletedBeforeRepair: number;
  controllerFixes: number;
  controllerFixesRacing: number;
  /** The controller looked, and a sidecar had already set the URL: nothing to do. */
  controllerTooLate: number;
  errors: string[];
}

export class Driver {
  readonly ledger = new Ledger();
  readonly stats: DriverStats = {
    committed: {
      eligible: 0,
      divergent: 0,
      large: 0,
      crc_mismatch: 0,
      committing: 0,
      near_retention: 0,
      no_url_key: 0,
    },
    committingCompleted: 0,
    deleted: 0,
    deletedBeforeRepair: 0,
    controllerFixes: 0,
    controllerFixesRacing: 0,
    controllerTooLate: 0,
    errors: [],
  };
  /** Detected while the run goes on (a failed versioned commit means someone wrote a COMMITTING record). */
  readonly liveViolations: Array<{ kind: string; table: string; segment: string; detail: string }> = [];
  private readonly sequences = new Map<string, number>();
  private segmentCount = 0;

  constructor(
    private readonly world: ChaosWorld,
    private readonly plan: ChaosPlan,
    private readonly rng: Rng,
    private readonly progress: (line: string) => void,
  ) {}

  /** Commit, expire, complete and fix until `signal` aborts; the action in progress finishes. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await sleep(
        Math.min(3 * this.plan.commitIntervalMs, Math.max(150, this.rng.exp(this.plan.commitIntervalMs))),
        signal,
      );
      if (signal.aborted) break;
      await this.step().catch((err: unknown) => {
        const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
        this.stats.errors.push(message);
        this.progress(`!! driver: ${message.split('\n')[0]}`);
      });
    }
  }

  private async step(): Promise<void> {
    const committed = await this.commit(this.pickKind());
    while (this.ledger.live().length > this.plan.maxLiveSegments) await this.deleteOldest();
    const now = Date.now();
    for (const entry of this.ledger.live()) {
      if (
        entry.kind === 'committing' &&
        entry.eligibleSince === null &&
        entry.commitDoneAt !== null &&
        entry.commitDoneAt <= now &&
        !entry.uncertain
      ) {
        await this.completeCommit(entry);
      }
    }
    // The controller's own repair, on the segment just committed: it races the sidecars, which react in about
    // a second (a validation run picking an old segment would find it long repaired).
    if (
      this.rng.chance(this.plan.driverFixChance) &&
      mustBeRepaired(committed) &&
      committed.kind !== 'large' &&
      !committed.uncertain
    ) {
      await this.controllerFix(committed);
    }
  }

  private pickKind(): SegmentKind {
    const total = KIND_WEIGHTS.reduce((sum, [, w]) => sum + w, 0);
    let r = this.rng.next() * total;
    for (const [kind, weight] of KIND_WEIGHTS) {
      r -= weight;
      if (r < 0) return kind;
    }
    return 'eligible';
  }

  // --- commits --------------------------------------------------------------------------------------------

  private async commit(kind: SegmentKind): Promise<SegmentEntry> {
    const table = kind === 'committing' || this.rng.chance(0.3) ? TABLES.pauseless : TABLES.plain;
    const segment = this.nextSegmentName(table);
    const servers = this.rng.shuffle(this.world.servers).slice(0, this.rng.int(2, 3));
    const divergent = kind === 'divergent' ? servers[servers.length - 1]! : null;

    // 1. The replicas' local copies (built on one server, copied to the others; the divergent one builds its own).
    const localCrc = new Map<number, string>();
    const first = servers[0]!;
    const built = await this.buildLocal(first, table, segment, kind === 'large');
    localCrc.set(first.index, built.crc);
    for (const server of servers.slice(1)) {
      if (server === divergent) {
        localCrc.set(server.index, (await this.buildLocal(server, table, segment, false)).crc);
      } else {
        await cp(built.dir, path.join(server.dataDir, table, segment), { recursive: true });
        localCrc.set(server.index, built.crc);
      }
    }

    // 2. The ZK metadata as the controller leaves it.
    const crc = built.crc;
    const now = Date.now();
    let record: ZNRecord;
    let zkCrc: string | null = crc;
    switch (kind) {
      case 'committing':
        record = segmentRecord(segment, { status: 'COMMITTING', extra: { 'segment.realtime.endOffset': '1000' } });
        zkCrc = null;
        break;
      case 'crc_mismatch':
        zkCrc = String((Number(crc) + 1 + this.rng.int(0, 1000)) % 2 ** 32);
        record = segmentRecord(segment, { status: 'DONE', downloadUrl: '', crc: zkCrc, endTimeMs: now - 60_000 });
        break;
      case 'near_retention':
        // Retention expires in 30 min: inside the 1 h margin, so the repair must leave it alone.
        record = segmentRecord(segment, {
          status: 'DONE',
          downloadUrl: '',
          crc,
          endTimeMs: now - RETENTION_MS + 30 * 60_000,
        });
        break;
      case 'no_url_key':
        record = segmentRecord(segment, { status: 'DONE', crc, endTimeMs: now - 60_000 });
        break;
      default:
        record = segmentRecord(segment, { status: 'DONE', downloadUrl: '', crc, endTimeMs: now - 60_000 });
    }
    const matching =
      zkCrc === null
        ? servers.map((s) => s.index)
        : servers.filter((s) => localCrc.get(s.index) === zkCrc).map((s) => s.index);
    const entry: SegmentEntry = {
      table,
      segment,
      kind,
      replicas: servers.map((s) => s.index),
      matching,
      zkCrc,
      writes: [],
      eligibleSince: null,
      // Two in three COMMITTING segments get committed later; the rest stay stuck.
      commitDoneAt:
        kind === 'committing' && this.rng.chance(0.67) ? Date.now() + this.rng.between(3_000, 20_000) : null,
      controllerUrl: null,
      deletedAt: null,
      uncertain: null,
      inspection: null,
    };
    this.ledger.add(entry);
    const stat = await this.world.gate.run(() => this.createZnode(entry, record));
    if (stat) {
      entry.writes.push({ version: stat.version, at: Date.now(), what: 'create', record });
      if (isRepairable(record)) entry.eligibleSince = Date.now();
    }
    this.stats.committed[kind] += 1;

    // 3. Each replica ONLINE in its server's current state.
    await this.world.setReplicaStates(
      table,
      servers.map((s): [SimServer, string, string] => [s, segment, 'ONLINE']),
    );
    return entry;
  }

  private async buildLocal(
    server: SimServer,
    table: string,
    segment: string,
    large: boolean,
  ): Promise<{ dir: string; crc: string }> {
    const tableDir = path.join(server.dataDir, table);
    if (!large) return generateSegment(tableDir, segment, { rows: this.rng.int(300, 3_000) });
    const built = await buildSegment(tableDir, {
      name: segment,
      layout: 'v3',
      payloadBytes: LARGE_PAYLOAD_BYTES,
      payloadKind: 'random',
      creationTime: Date.now(),
    });
    return { dir: built.dir, crc: String(built.crc) };
  }

  private nextSegmentName(table: string): string {
    const raw = rawTableName(table);
    const partition = this.rng.int(0, 3);
    const k = `${raw}/${partition}`;
    const seq = (this.sequences.get(k) ?? 0) + 1;
    this.sequences.set(k, seq);
    this.segmentCount += 1;
    // LLC names: <raw>__<partition>__<sequence>__<yyyyMMdd'T'HHmm'Z'>; a minute apart per segment.
    const stamp =
      new Date(Date.UTC(2024, 0, 1) + this.segmentCount * 60_000).toISOString().replace(/[-:]/g, '').slice(0, 13) + 'Z';
    return `${raw}__${partition}__${seq}__${stamp}`;
  }

  /** Create the znode; an ambiguous answer is settled by reading it back. Null when its outcome is unknown. */
  private async createZnode(entry: SegmentEntry, record: ZNRecord): Promise<Pick<ZkStat, 'version'> | null> {
    const path = this.world.seeder.paths.segmentMetadata(entry.table, entry.segment);
    const bytes = serializeZNRecord(record);
    for (let attempt = 1; attempt <= 5; attempt++) {
      try {
        await this.world.session.create(path, bytes);
        return { version: 0 }; // a create always makes version 0
      } catch (err) {
        if (!isAmbiguous(err) && !isZkCode(err, 'NODE_EXISTS')) throw err;
        const read = await this.readRaw(path);
        if (read && read.data.equals(bytes) && read.stat.version === 0) return read.stat;
        if (read) return this.markUncertain(entry, `create answered ${errorCode(err)}; the znode holds something else`);
        await this.world.session.waitConnected(20_000).catch(() => undefined);
      }
    }
    return this.markUncertain(entry, 'create did not go through');
  }

  /** Pauseless commit end: COMMITTING → DONE with URL "", versioned on the driver's own COMMITTING write. */
  private async completeCommit(entry: SegmentEntry): Promise<void> {
    const path = this.world.seeder.paths.segmentMetadata(entry.table, entry.segment);
    const committing = entry.writes[entry.writes.length - 1]!;
    const crc = await this.localCrcOf(entry);
    const record = segmentRecord(entry.segment, {
      status: 'DONE',
      downloadUrl: '',
      crc,
      endTimeMs: Date.now() - 60_000,
    });
    const bytes = serializeZNRecord(record);
    await this.world.gate.run(async () => {
      try {
        const stat = await this.world.session.setData(path, bytes, committing.version);
        entry.writes.push({ version: stat.version, at: Date.now(), what: 'commit_done', record });
        entry.zkCrc = crc;
        entry.eligibleSince = Date.now();
        this.stats.committingCompleted += 1;
      } catch (err) {
        if (isZkCode(err, 'BAD_VERSION')) {
          const read = await this.readRaw(path);
          this.liveViolations.push({
            kind: 'committing_written',
            table: entry.table,
            segment: entry.segment,
            detail: `the controller's versioned COMMITTING → DONE write (expected version ${committing.version}) failed: version ${read?.stat.version ?? 'gone'} holds ${read ? JSON.stringify(fieldsOf(read.data)) : 'nothing'}`,
          });
          this.markUncertain(entry, 'COMMITTING record written by someone else');
          return;
        }
        if (!isAmbiguous(err)) throw err;
        const read = await this.readRaw(path);
        if (read && read.data.equals(bytes)) {
          entry.writes.push({ version: read.stat.version, at: Date.now(), what: 'commit_done', record });
          entry.zkCrc = crc;
          entry.eligibleSince = Date.now();
          this.stats.committingCompleted += 1;
        } else {
          this.markUncertain(entry, `commit end answered ${errorCode(err)}`);
        }
      }
    });
  }

  private async localCrcOf(entry: SegmentEntry): Promise<string> {
    const server = this.world.servers.find((s) => s.index === entry.replicas[0])!;
    const resolved = await new SegmentStore(server.dataDir).resolve(entry.table, entry.segment);
    return String(resolved.creationMeta.crc);
  }

  // --- the controller's own repair (blind write) -----------------------------------------------------------

  /**
   * PinotLLCRealtimeSegmentManager.uploadToDeepStoreIfMissing, condensed: a snapshot of the metadata, the archive
   * uploaded to the canonical key (by the controller's own PinotFS: straight to the store, no CRC metadata), then
   * the snapshot with the URL persisted unconditionally (blindWrite). If a sidecar repaired it between the snapshot
   * and the write, the controller's write goes over it with the same URL: Pinot's behaviour, not the sidecar's.
   */
  private async controllerFix(entry: SegmentEntry): Promise<void> {
    const path = this.world.seeder.paths.segmentMetadata(entry.table, entry.segment);
    const snapshot = await this.world.gate.run(() => this.readRaw(path));
    if (!snapshot) return;
    const record = parseRecord(snapshot.data);
    if (record.simpleFields[URL_KEY] !== '') {
      this.stats.controllerTooLate += 1; // the validation run only picks segments with ""
      return;
    }
    const uri = segmentUri(DEEP_STORE_URI, rawTableName(entry.table), entry.segment);
    const server = this.world.servers.find((s) => s.index === entry.matching[0])!;
    const resolved = await new SegmentStore(server.dataDir).resolve(entry.table, entry.segment);
    const body = await buffer(streamSegmentArchive(await planSegmentArchive(resolved)));
    const key = uri.slice(`s3://${BUCKET}/`.length);
    await this.world.s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
    // The controller's run takes a while between its snapshot and its write: the window where it races.
    await sleep(this.rng.between(0, 1_500));
    const fixed: ZNRecord = { ...record, simpleFields: { ...record.simpleFields, [URL_KEY]: uri } };
    const bytes = serializeZNRecord(fixed);
    await this.world.gate.run(async () => {
      const before = await this.readRaw(path);
      if (!before) return;
      if (before.stat.version !== snapshot.stat.version) this.stats.controllerFixesRacing += 1;
      try {
        const stat = await this.blindWrite(path, bytes);
        if (!stat) return; // deleted meanwhile: setData never creates
        entry.writes.push({ version: stat.version, at: Date.now(), what: 'controller_fix', record: fixed });
      } catch (err) {
        if (!isAmbiguous(err)) throw err;
        const read = await this.readRaw(path);
        if (read && read.data.equals(bytes))
          entry.writes.push({ version: read.stat.version, at: Date.now(), what: 'controller_fix', record: fixed });
        else this.markUncertain(entry, `controller fix answered ${errorCode(err)}`);
      }
      entry.controllerUrl = uri;
      this.stats.controllerFixes += 1;
    });
  }

  /**
   * Pinot's persistSegmentZKMetadata(..., -1). ZkSession refuses version -1 (the sidecar must only ever
   * compare-and-set), so the controller's unconditional write is made on whatever version is there, again
   * until it lands: the same last-writer-wins write. Null when the znode is gone.
   */
  private async blindWrite(path: string, bytes: Buffer): Promise<ZkStat | null> {
    for (;;) {
      const stat = await this.world.session.exists(path);
      if (!stat) return null;
      try {
        return await this.world.session.setData(path, bytes, stat.version);
      } catch (err) {
        if (!isZkCode(err, 'BAD_VERSION')) throw err;
      }
    }
  }

  // --- retention ------------------------------------------------------------------------------------------

  private async deleteOldest(): Promise<void> {
    const entry = this.ledger.live()[0]!;
    const path = this.world.seeder.paths.segmentMetadata(entry.table, entry.segment);
    const servers = this.world.servers.filter((s) => entry.replicas.includes(s.index));
    const dropReplicas = async (): Promise<void> => {
      await this.world.setReplicaStates(
        entry.table,
        servers.map((s): [SimServer, string, null] => [s, entry.segment, null]),
      );
      for (const server of servers) await rm(path_(server, entry), { recursive: true, force: true });
    };
    // Pinot removes the segment from the ideal state and deletes its metadata; servers drop it when they get
    // there. Either may come first.
    const replicasFirst = this.rng.chance(0.5);
    if (replicasFirst) await dropReplicas();
    await this.world.gate.run(async () => {
      // Inspect, then delete that version: a write in between makes the delete fail, and we look again.
      for (let attempt = 1; ; attempt++) {
        const inspection = await this.inspect(entry);
        entry.inspection = inspection;
        if (!inspection.exists) break;
        try {
          await this.world.session.delete(path, inspection.version);
          break;
        } catch (err) {
          if (isZkCode(err, 'NO_NODE')) break;
          if ((isZkCode(err, 'BAD_VERSION') || isAmbiguous(err)) && attempt < 5) continue;
          throw err;
        }
      }
    });
    entry.deletedAt = Date.now();
    this.stats.deleted += 1;
    if (entry.eligibleSince !== null && (entry.inspection?.url ?? '') === '') this.stats.deletedBeforeRepair += 1;
    if (!replicasFirst) await dropReplicas();
    const key = segmentUri(DEEP_STORE_URI, rawTableName(entry.table), entry.segment).slice(`s3://${BUCKET}/`.length);
    await this.world.s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
  }

  /** Read the znode as it is now (the end-of-run check uses the same). */
  async inspect(entry: SegmentEntry): Promise<Inspection> {
    const path = this.world.seeder.paths.segmentMetadata(entry.table, entry.segment);
    const read = await this.world.zkRetry(() => this.readRaw(path));
    if (!read) return { at: Date.now(), exists: false, version: -1, mtimeMs: 0, url: undefined, record: null };
    const record = parseRecord(read.data);
    return {
      at: Date.now(),
      exists: true,
      version: read.stat.version,
      mtimeMs: read.stat.mtimeMs,
      url: record.simpleFields[URL_KEY],
      record,
    };
  }

  private async readRaw(path: string): Promise<{ data: Buffer; stat: ZkStat } | null> {
    try {
      const { data, stat } = await this.world.session.getData(path);
      return { data: data ?? Buffer.alloc(0), stat };
    } catch (err) {
      if (isZkCode(err, 'NO_NODE')) return null;
      throw err;
    }
  }

  private markUncertain(entry: SegmentEntry, why: string): null {
    entry.uncertain = why;
    this.progress(`!! driver: ${entry.segment}: ${why} (its version bookkeeping is not trusted)`);
    return null;
  }
}

function path_(server: SimServer, entry: SegmentEntry): string {
  return path.join(server.dataDir, entry.table, entry.segment);
}

function isRepairable(record: ZNRecord): boolean {
  return record.simpleFields['segment.realtime.status'] === 'DONE' && record.simpleFields[URL_KEY] === '';
}

function isAmbiguous(err: unknown): boolean {
  return isZkCode(err, 'CONNECTION_LOSS') || isZkCode(err, 'TIMEOUT') || isZkCode(err, 'SESSION_EXPIRED');
}

function errorCode(err: unknown): string {
  return (err as { code?: string }).code ?? String(err);
}

function parseRecord(data: Buffer): ZNRecord {
  return parseZNRecord(data).record;
}

function fieldsOf(data: Buffer): Record<string, string> {
  return parseRecord(data).simpleFields;
}
