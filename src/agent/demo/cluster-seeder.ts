import { randomBytes } from 'node:crypto';
import {
  clusterPaths,
  isZkCode,
  newZNRecord,
  serializeZNRecord,
  type ClusterPaths,
  type ZkSession,
  type ZNRecord,
} from '../../helix/index.js';
import { isRealtimeTable } from '../../pinot-format/index.js';

export interface TableOptions {
  pauseless?: boolean;
  retention?: { unit: string; value: string } | null;
  peerScheme?: string | null;
  dedup?: boolean;
  upsertMode?: 'FULL' | 'PARTIAL' | 'NONE';
  disasterRecoveryMode?: 'DEFAULT' | 'ALWAYS';
  replication?: number;
  /** segmentsConfig.crypterClassName (the table's deep-store copies are encrypted). */
  crypterClassName?: string;
}

export interface SegmentFields {
  status?: 'IN_PROGRESS' | 'COMMITTING' | 'DONE' | 'UPLOADED' | null;
  /** undefined = key absent; "" = peer-download only. */
  downloadUrl?: string;
  crc?: string;
  endTimeMs?: number;
  creationTimeMs?: number;
  extra?: Record<string, string>;
}

/**
 * Seeds a Pinot cluster layout in ZooKeeper the way Helix and Pinot write it (docs/pinot-interop.md,
 * "ZooKeeper layout", "ZNRecord bytes", "Segment metadata"): every record goes through the Helix serializer,
 * IS/EV are gzipped when enableCompression is set, segment metadata simpleFields are sorted like
 * SegmentZKMetadata.toZNRecord. Used by the demo
 * and by the tests. Live instances are persistent here (a real server's are ephemeral) so the seeding
 * session's life does not decide the simulated server's.
 */
export class PinotClusterSeeder {
  readonly paths: ClusterPaths;

  constructor(
    readonly session: ZkSession,
    readonly cluster: string,
  ) {
    this.paths = clusterPaths(cluster);
  }

  /** The structural nodes Helix creates for a cluster, plus the Helix cluster config. */
  async createCluster(clusterConfig: Record<string, string> = {}): Promise<void> {
    const root = this.paths.root;
    for (const dir of [
      'CONFIGS/CLUSTER',
      'CONFIGS/PARTICIPANT',
      'CONFIGS/RESOURCE',
      'LIVEINSTANCES',
      'INSTANCES',
      'IDEALSTATES',
      'EXTERNALVIEW',
      'CONTROLLER',
      'STATEMODELDEFS',
      'PROPERTYSTORE/SEGMENTS',
      'PROPERTYSTORE/CONFIGS/TABLE',
      'PROPERTYSTORE/PAUSELESS_DEBUG_METADATA',
    ]) {
      await this.session.ensurePath(`${root}/${dir}`);
    }
    await this.put(this.paths.clusterConfig(), newZNRecord(this.cluster, { simpleFields: { ...clusterConfig } }));
  }

  /** Instance config with HELIX_HOST/adminPort, its INSTANCES folders, and (by default) a live session. */
  async addInstance(
    instance: string,
    options: {
      host?: string;
      adminPort?: number | null;
      live?: boolean;
      /** `environment.failureDomain`, as a server with a PinotEnvironmentProvider writes it (BaseServerStarter). */
      failureDomain?: string;
    } = {},
  ): Promise<string> {
    const simpleFields: Record<string, string> = {
      HELIX_ENABLED: 'true',
      HELIX_HOST: options.host ?? '127.0.0.1',
      HELIX_PORT: '8098',
    };
    if (options.adminPort !== null) simpleFields.adminPort = String(options.adminPort ?? 8097);
    await this.put(
      this.paths.instanceConfig(instance),
      newZNRecord(instance, {
        simpleFields,
        listFields: { TAG_LIST: ['DefaultTenant_REALTIME', 'DefaultTenant_OFFLINE'] },
        ...(options.failureDomain === undefined
          ? {}
          : { mapFields: { environment: { failureDomain: options.failureDomain } } }),
      }),
    );
    await this.session.ensurePath(`${this.paths.root}/INSTANCES/${instance}/CURRENTSTATES`);
    await this.session.ensurePath(`${this.paths.root}/INSTANCES/${instance}/MESSAGES`);
    if (options.live === false) return '';
    return this.setLive(instance);
  }

  /** (Re)start the simulated server: a new SESSION_ID in LIVEINSTANCES, like a Helix participant. */
  async setLive(instance: string, sessionId = randomBytes(8).toString('hex').replace(/^0+/, '')): Promise<string> {
    // The fields a real server's Helix participant writes (seen on Pinot 0.11 / Helix 1.0.4).
    await this.put(
      this.paths.liveInstance(instance),
      newZNRecord(instance, {
        simpleFields: {
          CURRENT_TASK_THREAD_POOL_SIZE: '40',
          HELIX_VERSION: '1.0.4',
          LIVE_INSTANCE: `1@${instance}`,
          SESSION_ID: sessionId,
        },
      }),
    );
    await this.session.ensurePath(this.paths.currentStates(instance, sessionId));
    return sessionId;
  }

  async setDead(instance: string): Promise<void> {
    await this.remove(this.paths.liveInstance(instance));
  }

  /**
   * CURRENTSTATES/<session>/<table>: mapFields segment -> the fields a real server writes (seen on Pinot 0.11:
   * CURRENT_STATE, END_TIME, INFO, PREVIOUS_STATE, START_TIME, TRIGGERED_BY), simpleFields as Helix writes them.
   */
  async setCurrentState(
    instance: string,
    sessionId: string,
    table: string,
    states: Record<string, string>,
  ): Promise<void> {
    const mapFields: Record<string, Record<string, string>> = {};
    const now = Date.now();
    for (const [segment, state] of Object.entries(states)) {
      mapFields[segment] = {
        CURRENT_STATE: state,
        END_TIME: String(now),
        INFO: '',
        PREVIOUS_STATE: state === 'CONSUMING' ? 'OFFLINE' : 'CONSUMING',
        START_TIME: String(now - 1_000),
        TRIGGERED_BY: 'localhost_9000',
      };
    }
    await this.put(
      this.paths.currentState(instance, sessionId, table),
      newZNRecord(table, {
        simpleFields: {
          BATCH_MESSAGE_MODE: 'false',
          BUCKET_SIZE: '0',
          SESSION_ID: sessionId,
          STATE_MODEL_DEF: 'SegmentOnlineOfflineStateModel',
          STATE_MODEL_FACTORY_NAME: 'DEFAULT',
        },
        mapFields,
      }),
    );
  }

  async removeCurrentState(instance: string, sessionId: string, table: string): Promise<void> {
    await this.remove(this.paths.currentState(instance, sessionId, table));
  }

  /** EXTERNALVIEW (or IDEALSTATES): gzipped when compress is set, as Helix does for enableCompression. */
  async setExternalView(
    table: string,
    assignment: Record<string, Record<string, string>>,
    options: { compress?: boolean; idealState?: boolean } = {},
  ): Promise<void> {
    const simpleFields: Record<string, string> = {
      BUCKET_SIZE: '0',
      IDEAL_STATE_MODE: 'CUSTOMIZED',
      INSTANCE_GROUP_TAG: table,
      REBALANCE_MODE: 'CUSTOMIZED',
      STATE_MODEL_DEF_REF: 'SegmentOnlineOfflineStateModel',
    };
    if (options.compress) simpleFields.enableCompression = 'true';
    const path = options.idealState ? this.paths.idealState(table) : this.paths.externalView(table);
    await this.put(path, newZNRecord(table, { simpleFields, mapFields: assignment }));
  }

  /** Table config with each section as a JSON string in a simpleField (TableConfigSerDeUtils.toZNRecord). */
  async addTable(tableNameWithType: string, options: TableOptions = {}): Promise<void> {
    const type = isRealtimeTable(tableNameWithType) ? 'REALTIME' : 'OFFLINE';
    const segmentsConfig: Record<string, unknown> = {
      replication: String(options.replication ?? 2),
      timeColumnName: 'ts',
    };
    const retention = options.retention === undefined ? { unit: 'DAYS', value: '5' } : options.retention;
    if (retention) {
      segmentsConfig.retentionTimeUnit = retention.unit;
      segmentsConfig.retentionTimeValue = retention.value;
    }
    if (options.peerScheme !== null) segmentsConfig.peerSegmentDownloadScheme = options.peerScheme ?? 'http';
    if (options.crypterClassName !== undefined) segmentsConfig.crypterClassName = options.crypterClassName;
    const simpleFields: Record<string, string> = {
      tableName: tableNameWithType,
      tableType: type,
      segmentsConfig: JSON.stringify(segmentsConfig),
      tenants: JSON.stringify({ broker: 'DefaultTenant', server: 'DefaultTenant' }),
      tableIndexConfig: JSON.stringify({ loadMode: 'MMAP' }),
      metadata: JSON.stringify({ customConfigs: {} }),
      isDimTable: 'false',
    };
    if (type === 'REALTIME') {
      simpleFields.ingestionConfig = JSON.stringify({
        streamIngestionConfig: {
          pauselessConsumptionEnabled: options.pauseless ?? false,
          ...(options.disasterRecoveryMode ? { disasterRecoveryMode: options.disasterRecoveryMode } : {}),
          streamConfigMaps: [{ streamType: 'kafka', 'stream.kafka.topic.name': tableNameWithType }],
        },
      });
    }
    if (options.upsertMode) simpleFields.upsertConfig = JSON.stringify({ mode: options.upsertMode });
    if (options.dedup) simpleFields.dedupConfig = JSON.stringify({ dedupEnabled: true, hashFunction: 'NONE' });
    await this.session.ensurePath(this.paths.tableSegments(tableNameWithType));
    await this.put(this.paths.tableConfig(tableNameWithType), newZNRecord(tableNameWithType, { simpleFields }));
  }

  /**
   * Segment ZK metadata as the controller writes it at commit end
   * (SegmentZKMetadataUtils.updateCommittingSegmentZKMetadata; docs/pinot-interop.md, "Segment metadata").
   */
  async putSegment(table: string, segment: string, fields: SegmentFields = {}): Promise<void> {
    await this.put(this.paths.segmentMetadata(table, segment), segmentRecord(segment, fields));
  }

  async putPauselessDebug(table: string, committing: string[]): Promise<void> {
    await this.put(
      this.paths.pauselessDebugMetadata(table),
      newZNRecord(table, { listFields: { committingSegments: committing } }),
    );
  }

  /** Create or overwrite (test seeding only: the product never writes unconditionally). */
  async put(path: string, record: ZNRecord | Buffer): Promise<void> {
    const bytes = Buffer.isBuffer(record) ? record : serializeZNRecord(record);
    const stat = await this.session.exists(path);
    if (stat) {
      await this.session.setData(path, bytes, stat.version);
      return;
    }
    const parent = path.slice(0, path.lastIndexOf('/'));
    if (parent) await this.session.ensurePath(parent);
    await this.session.create(path, bytes);
  }

  async remove(path: string): Promise<void> {
    try {
      await this.session.delete(path);
    } catch (err) {
      if (!isZkCode(err, 'NO_NODE')) throw err;
    }
  }
}

/** A segment metadata record with Pinot's sorted simpleFields (SegmentZKMetadata.toZNRecord uses a TreeMap). */
export function segmentRecord(segment: string, fields: SegmentFields = {}): ZNRecord {
  const f: Record<string, string> = {
    'segment.creation.time': String(fields.creationTimeMs ?? 1_704_067_200_000),
    'segment.realtime.numReplicas': '2',
    'segment.realtime.startOffset': '0',
    'segment.flush.threshold.size': '100000',
    ...fields.extra,
  };
  const status = fields.status === undefined ? 'DONE' : fields.status;
  if (status !== null) f['segment.realtime.status'] = status;
  if (status === 'DONE' || status === 'UPLOADED') {
    f['segment.realtime.endOffset'] = '1000';
    f['segment.end.time'] = String(fields.endTimeMs ?? Date.now() - 60_000);
    f['segment.start.time'] = String((fields.endTimeMs ?? Date.now() - 60_000) - 3_600_000);
    f['segment.time.unit'] = 'MILLISECONDS';
    f['segment.index.version'] = 'v3';
    f['segment.total.docs'] = '100';
    f['segment.size.in.bytes'] = '4096';
    f['segment.crc'] = fields.crc ?? '12345';
  } else if (fields.crc !== undefined) {
    f['segment.crc'] = fields.crc;
  }
  if (fields.downloadUrl !== undefined) f['segment.download.url'] = fields.downloadUrl;
  const sorted: Record<string, string> = {};
  for (const k of Object.keys(f).sort()) sorted[k] = f[k]!;
  return newZNRecord(segment, { simpleFields: sorted });
}
