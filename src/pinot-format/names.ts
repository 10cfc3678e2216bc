// Pinot's naming rules for tables and segments, pure. Only the rules Pinot itself applies live here; what the
// sidecar accepts in a request path is stricter (src/segments/names.ts).

/** TableType: the suffix of every tableNameWithType. */
export type TableType = 'REALTIME' | 'OFFLINE';

/** TableNameBuilder's suffixes: `tableNameWithType = raw + "_" + TableType`. */
const TABLE_TYPE_SUFFIXES: ReadonlyArray<readonly [TableType, string]> = [
  ['REALTIME', '_REALTIME'],
  ['OFFLINE', '_OFFLINE'],
];

/** True for the exact names of TableType (a table config's `tableType`). */
export function isTableType(value: unknown): value is TableType {
  return TABLE_TYPE_SUFFIXES.some(([type]) => type === value);
}

/** TableNameBuilder.getTableTypeFromTableName: the type a name's suffix says, undefined for a raw name. */
export function tableTypeOf(name: string): TableType | undefined {
  return TABLE_TYPE_SUFFIXES.find(([, suffix]) => name.endsWith(suffix))?.[0];
}

/** TableNameBuilder.isRealtimeTableResource: only REALTIME tables commit segments (and so need repair). */
export function isRealtimeTable(name: string): boolean {
  return tableTypeOf(name) === 'REALTIME';
}

/** TableNameBuilder.extractRawTableName: strips the type suffix only if present. */
export function rawTableName(nameWithType: string): string {
  const type = tableTypeOf(nameWithType);
  return type === undefined ? nameWithType : nameWithType.slice(0, -`_${type}`.length);
}

/** TableNameBuilder.forType(type).tableNameWithType(raw). */
export function tableNameWithType(raw: string, type: TableType): string {
  return `${raw}_${type}`;
}

/**
 * Pinot's low-level-consumer segment name `<rawTable>__<partition>__<sequence>__<yyyyMMdd'T'HHmm'Z'>`
 * (LLCSegmentName: exactly three `__` separators, integer partition and sequence). The controller's
 * pauseless error gauges count only such segments (PinotLLCRealtimeSegmentManager).
 */
export function isLlcSegmentName(name: string): boolean {
  const parts = name.split('__');
  if (parts.length !== 4) return false;
  const [table, partition, sequence, time] = parts as [string, string, string, string];
  return table !== '' && /^-?\d+$/.test(partition) && /^-?\d+$/.test(sequence) && /^\d{8}T\d{4}Z$/.test(time);
}

/**
 * One string for a (tableNameWithType, segment) pair, to key maps and sets. A tableNameWithType is a znode name
 * (Helix's resource name, `CURRENTSTATES/<session>/<table>`) and so never holds "/": the first "/" splits the pair
 * back, whatever the segment name holds.
 */
export function tableSegmentKey(table: string, segment: string): string {
  return `${table}/${segment}`;
}

/** The pair tableSegmentKey() joined. */
export function splitTableSegmentKey(key: string): [table: string, segment: string] {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}
