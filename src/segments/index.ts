// Local segment store of one Pinot server: name validation, safe resolution of sealed segments,
// Pinot's CRC, and tar.gz streaming (compressed in parallel, one gzip member). Independent of src/helix,
// src/deepstore and src/agent.

export { adler32, Adler32 } from './adler32.js';
export {
  CompressionPool,
  defaultCompressionPool,
  defaultCompressionThreads,
  MAX_DEFAULT_COMPRESSION_THREADS,
  type CompressionPoolOptions,
  type DeflateJob,
  type DeflateResult,
} from './compression-pool.js';
export { CODEC_SNIFF_BYTES, detectArchiveCodec, type ArchiveCodec } from './archive-codec.js';
export { computeSegmentCrc, crcFileOrder, isCrcCovered, isDataCrcCovered, type SegmentCrc } from './crc.js';
export { inspectCrc, type CrcInspection } from './crc-inspect.js';
export {
  CompressionError,
  CorruptSegmentError,
  NotASegmentError,
  InvalidNameError,
  SegmentChangedError,
  SegmentNotFoundError,
  SegmentReadError,
  UnsafeSegmentError,
} from './errors.js';
export { isTransientDirName } from './layout.js';
export { decodePathParam, MAX_NAME_BYTES, parseTableName, validateSegmentName, type ParsedTableName } from './names.js';
export { createParallelGzip, DEFAULT_BLOCK_SIZE, ParallelGzip, type ParallelGzipOptions } from './parallel-gzip.js';
export { readSeal, type Seal, type SealLookup } from './seal.js';
export { SegmentStore, type ResolvedSegment, type SegmentStoreOptions } from './segment-store.js';
export {
  DEFAULT_GZIP_LEVEL,
  DEFAULT_READ_SIZE,
  planSegmentArchive,
  streamSegmentArchive,
  type ArchiveEntry,
  type PlanOptions,
  type SegmentArchiveOptions,
  type SegmentArchivePlan,
} from './tar-stream.js';
