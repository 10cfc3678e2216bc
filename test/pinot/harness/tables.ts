import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { RealPinotCluster } from './cluster.js';
import { kafkaClientClasspath, SUITE_DIR } from './jars.js';

/**
 * The suite's REALTIME tables: each its own Kafka topic, 2 replicas, `peerSegmentDownloadScheme: http` (which makes
 * servers upload committed segments themselves, PeerSchemeSplitSegmentCommitter), small segments. Pinot divides
 * realtime.segment.flush.threshold.rows by the number of partitions a server consumes: rows 100 with 2 partitions
 * commits 50-row segments.
 */
export interface SuiteTable {
  name: string;
  partitions: number;
  /** realtime.segment.flush.threshold.rows (the whole table's, divided per partition consumer). */
  flushRows: number;
  /** Characters of random hex in each row's payload column (large rows make large segments). */
  payloadChars: number;
}

export const tableNameWithType = (t: SuiteTable): string => `${t.name}_REALTIME`;
/** Rows per committed segment. */
export const segmentRows = (t: SuiteTable): number => t.flushRows / t.partitions;

export function schemaOf(t: SuiteTable): unknown {
  return {
    schemaName: t.name,
    dimensionFieldSpecs: [
      { name: 'id', dataType: 'INT' },
      { name: 'name', dataType: 'STRING' },
      // Pinot truncates strings to 512 characters unless the field says otherwise.
      { name: 'payload', dataType: 'STRING', maxLength: Math.max(512, t.payloadChars) },
    ],
    metricFieldSpecs: [{ name: 'value', dataType: 'LONG' }],
    dateTimeFieldSpecs: [
      { name: 'ts', dataType: 'LONG', format: '1:MILLISECONDS:EPOCH', granularity: '1:MILLISECONDS' },
    ],
  };
}

export function tableConfigOf(t: SuiteTable, kafkaBootstrap: string): unknown {
  return {
    tableName: t.name,
    tableType: 'REALTIME',
    segmentsConfig: {
      schemaName: t.name,
      timeColumnName: 'ts',
      replication: '2',
      replicasPerPartition: '2',
      retentionTimeUnit: 'DAYS',
      retentionTimeValue: '3650',
      peerSegmentDownloadScheme: 'http',
    },
    tenants: {},
    tableIndexConfig: {
      loadMode: 'MMAP',
      streamConfigs: {
        streamType: 'kafka',
        'stream.kafka.consumer.type': 'lowlevel',
        'stream.kafka.topic.name': t.name,
        'stream.kafka.broker.list': kafkaBootstrap,
        'stream.kafka.consumer.factory.class.name': 'org.apache.pinot.plugin.stream.kafka20.KafkaConsumerFactory',
        'stream.kafka.decoder.class.name': 'org.apache.pinot.plugin.stream.kafka.KafkaJSONMessageDecoder',
        'stream.kafka.consumer.prop.auto.offset.reset': 'smallest',
        'realtime.segment.flush.threshold.rows': String(t.flushRows),
        'realtime.segment.flush.threshold.time': '1h',
      },
    },
    metadata: {},
  };
}

/** Create the topic (with its partitions) by producing nothing, then the schema and the table. */
export async function createTable(cluster: RealPinotCluster, t: SuiteTable): Promise<void> {
  await produceRows(cluster, t, { count: 0, firstId: 0 });
  await cluster.controllerJson('/schemas', { method: 'POST', body: schemaOf(t) });
  await cluster.controllerJson('/tables', { method: 'POST', body: tableConfigOf(t, cluster.kafkaBootstrap) });
}

/** Send rows with ids firstId .. firstId+count-1 to the table's topic (test/pinot/java/RowProducer.java). */
export async function produceRows(
  cluster: RealPinotCluster,
  t: SuiteTable,
  rows: { count: number; firstId: number },
): Promise<void> {
  await promisify(execFile)(
    'java',
    [
      '-Xmx256m',
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      '-cp',
      kafkaClientClasspath(cluster.jars),
      path.join(SUITE_DIR, 'java', 'RowProducer.java'),
      cluster.kafkaBootstrap,
      t.name,
      String(t.partitions),
      String(rows.count),
      String(rows.firstId),
      String(t.payloadChars),
    ],
    { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
  );
}
