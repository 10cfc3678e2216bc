// The deep-store library: where the sidecar copies segments that exist only on servers. Independent of the
// rest of the sidecar (no ZooKeeper, no local segment store); the agent composes it.

export {
  createDeepStore,
  type ArchiveVerdict,
  type DeepStore,
  type DeepStoreCallOptions,
  type DeepStoreOptions,
  type ObjectRead,
  type ProbeOptions,
  type PutOptions,
  type SegmentObjectMeta,
  type StoredObject,
  type SweepOptions,
  type SweepResult,
} from './deep-store.js';
export { DeepStoreError } from './errors.js';
export { segmentUri, urlEncode } from './segment-key.js';
export { parseStoreUri } from './store-uri.js';
export {
  S3DeepStore,
  CRC_METADATA_KEY,
  BYTES_METADATA_KEY,
  S3_DEFAULTS,
  CHECKSUM_MODES,
  type S3DeepStoreOptions,
  type ChecksumMode,
} from './s3-deep-store.js';
export { FileDeepStore, FILE_STORE_DEFAULTS } from './file-deep-store.js';
export {
  AzureDeepStore,
  AZURE_CRC_METADATA_KEY,
  AZURE_BYTES_METADATA_KEY,
  AZURE_DEFAULTS,
  type AzureDeepStoreOptions,
} from './azure-deep-store.js';
export { GcsDeepStore, GCS_DEFAULTS, type GcsDeepStoreOptions } from './gcs-deep-store.js';
export { isNoSpace, NO_SPACE_CODE } from './classify.js';
export {
  PROBE_FOLDER,
  probeObjectName,
  type ProbeIssue,
  type ProbeMode,
  type ProbeResult,
  type ProbeStep,
} from './probe.js';
