import {
  createDeepStore,
  DeepStoreError,
  parseStoreUri,
  type DeepStore,
  type DeepStoreOptions,
  type ObjectRead,
} from '../../deepstore/index.js';
import { SourceError } from './errors.js';

/**
 * Reads the object a ZooKeeper download URI names, through src/deepstore. A store only reads below its base
 * URI; the URI in ZooKeeper may be anywhere, so the base is the bucket (S3, GCS), the file system (Azure) or the
 * root (file). One store per
 * base for the command's lifetime, closed at the end.
 */
export class DeepStoreReader {
  private readonly stores = new Map<string, DeepStore>();

  constructor(private readonly options: Omit<DeepStoreOptions, 'logger'> = {}) {}

  async get(uri: string, signal?: AbortSignal): Promise<ObjectRead> {
    try {
      const base = storeBase(uri);
      let store = this.stores.get(base);
      if (store === undefined) {
        store = createDeepStore(base, this.options);
        this.stores.set(base, store);
      }
      return await store.get(uri, signal === undefined ? {} : { signal });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (err instanceof DeepStoreError) throw new SourceError(err.message, { cause: err });
      throw err;
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.stores.values()].map((s) => s.close()));
    this.stores.clear();
  }
}

/** `s3://bucket` (or `s3a://`), `gs://bucket`, `adl2://fileSystem` or `file:///` for a URI of that store; pure. */
export function storeBase(uri: string): string {
  const location = parseStoreUri(uri);
  switch (location.kind) {
    case 'file':
      return 'file:///';
    case 'gcs':
      return `gs://${location.bucket}`;
    case 'adl2':
      return `adl2://${location.fileSystem}`;
    case 's3':
      return `${/^s3a:/i.test(uri) ? 's3a' : 's3'}://${location.bucket}`;
  }
}
