import { isTableType, type TableType } from '../pinot-format/index.js';
import { ZNRecordParseError } from './errors.js';
import { TIME_UNIT_MS } from './segment-metadata.js';
import type { ZNRecord } from './znrecord.js';

/**
 * PROPERTYSTORE/CONFIGS/TABLE/<tableNameWithType>. Each top-level section is a JSON string in a
 * simpleField (TableConfigSerDeUtils.toZNRecord): segmentsConfig, ingestionConfig, upsertConfig,
 * dedupConfig, ... Only what the sidecar acts on is read; everything else is ignored.
 */
export interface TableSettings {
  tableNameWithType: string;
  tableType: TableType;
  /** ingestionConfig.streamIngestionConfig.pauselessConsumptionEnabled (PauselessConsumptionUtils). */
  pauselessEnabled: boolean;
  /** segmentsConfig.retentionTimeUnit x retentionTimeValue; null = keep forever. */
  retentionMs: number | null;
  /** segmentsConfig.peerSegmentDownloadScheme, lower-cased; only http/https are valid. */
  peerDownloadScheme: 'http' | 'https' | null;
  dedupEnabled: boolean;
  partialUpsert: boolean;
  /** streamIngestionConfig.disasterRecoveryMode. */
  disasterRecoveryMode: 'DEFAULT' | 'ALWAYS';
  /**
   * segmentsConfig.crypterClassName, or null. Minion tasks decrypt every deep-store download with it
   * (`getValidationConfig().getCrypterClassName()` in the minion executors), so the table's deep-store objects
   * must be encrypted: the sidecar, which can only write plain archives, leaves such tables alone.
   */
  crypterClassName: string | null;
}

export function readTableSettings(record: ZNRecord, path = record.id): TableSettings {
  const f = record.simpleFields;
  const tableNameWithType = f.tableName ?? record.id;
  const tableType = f.tableType;
  if (!isTableType(tableType)) {
    throw new ZNRecordParseError(path, `table config has tableType ${JSON.stringify(tableType)}`);
  }
  const segments = section(f, 'segmentsConfig', path);
  const ingestion = section(f, 'ingestionConfig', path);
  const stream = obj(ingestion.streamIngestionConfig);
  const upsert = section(f, 'upsertConfig', path);
  const dedup = section(f, 'dedupConfig', path);
  const scheme =
    typeof segments.peerSegmentDownloadScheme === 'string' ? segments.peerSegmentDownloadScheme.toLowerCase() : null;
  return {
    tableNameWithType,
    tableType,
    pauselessEnabled: stream.pauselessConsumptionEnabled === true || stream.pauselessConsumptionEnabled === 'true',
    retentionMs: retention(segments.retentionTimeUnit, segments.retentionTimeValue),
    peerDownloadScheme: scheme === 'http' || scheme === 'https' ? scheme : null,
    dedupEnabled: dedup.dedupEnabled === true || dedup.dedupEnabled === 'true',
    partialUpsert: typeof upsert.mode === 'string' && upsert.mode.toUpperCase() === 'PARTIAL',
    disasterRecoveryMode:
      typeof stream.disasterRecoveryMode === 'string' && stream.disasterRecoveryMode.toUpperCase() === 'ALWAYS'
        ? 'ALWAYS'
        : 'DEFAULT',
    crypterClassName:
      typeof segments.crypterClassName === 'string' && segments.crypterClassName.trim() !== ''
        ? segments.crypterClassName
        : null,
  };
}

function section(f: Record<string, string>, key: string, path: string): Record<string, unknown> {
  const raw = f[key];
  if (raw === undefined || raw === 'null') return {};
  try {
    return obj(JSON.parse(raw));
  } catch (cause) {
    throw new ZNRecordParseError(path, `table config ${key} is not JSON`, { cause });
  }
}

function obj(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function retention(unit: unknown, value: unknown): number | null {
  if (typeof unit !== 'string') return null;
  const ms = TIME_UNIT_MS[unit.toUpperCase()];
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
  return ms !== undefined && Number.isFinite(n) && n > 0 ? n * ms : null;
}
