// Pinot's formats and naming rules, pure and IO-free: what every layer (helix, segments, deepstore, agent) may
// import, as it imports src/errors.ts and src/log.ts. Each rule cites the Pinot class it comes from.

export {
  CREATION_META,
  CREATION_META_CANDIDATES,
  CREATION_META_SIZES,
  crcFromCreationMeta,
  encodeCreationMeta,
  isCreationMetaEntry,
  parseCreationMeta,
  V3_DIR,
  type CreationMeta,
} from './creation-meta.js';
export { CreationMetaError } from './errors.js';
export {
  isLlcSegmentName,
  isRealtimeTable,
  isTableType,
  rawTableName,
  splitTableSegmentKey,
  tableNameWithType,
  tableSegmentKey,
  tableTypeOf,
  type TableType,
} from './names.js';
export { isSegmentCrc, readSegmentCrc } from './segment-crc.js';
