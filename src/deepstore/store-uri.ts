// Deep-store URIs as Pinot's file systems read them, pure. Used both for the configured base URI
// (`--deep-store`, the controller's controller.data.dir) and for object URIs under it.

import path from 'node:path';
import { invalidArgument } from './errors.js';

/** A deep-store URI taken apart: an S3 or GCS bucket and key, or an absolute file path. */
export type StoreLocation =
  /** `key` is the object key: '' for the bucket root. */
  | { kind: 's3'; uri: string; bucket: string; key: string }
  /** `key` is the GCS object name: '' for the bucket root. */
  | { kind: 'gcs'; uri: string; bucket: string; key: string }
  /** `path` is absolute and normalised. */
  | { kind: 'file'; uri: string; path: string };

const S3_URI = /^s3a?:\/\/([^/?#]*)([^?#]*)$/i;
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const GCS_URI = /^gs:\/\/([^/?#]*)([^?#]*)$/i;
// GCS bucket names: lower-case letters, digits, "-", "_" and "." (cloud.google.com/storage/docs/buckets#naming);
// GcsUri takes the bucket from URI.getAuthority(), not getHost(), because of the "_".
const GCS_BUCKET = /^[a-z0-9][a-z0-9._-]*[a-z0-9]$/;
// file:/abs (what Pinot's URIUtils.getUri writes for a path without a scheme), file:///abs, file://localhost/abs
const FILE_URI = /^file:(?:\/\/(?:localhost)?(?=\/)|(?!\/\/))(\/[^?#]*)$/i;

const EXPECTED = 'expected s3://bucket/prefix, gs://bucket/prefix or file:///absolute/path';

function decodePath(uri: string, rawPath: string): string {
  try {
    // java.net.URI.getPath(): %XX decoded, "+" left alone (it is not form decoding).
    return decodeURIComponent(rawPath);
  } catch {
    throw invalidArgument('InvalidDeepStoreUri', `malformed percent-encoding in ${uri}`);
  }
}

/** S3PinotFS.sanitizePath: runs of "/" collapse to one, and the leading "/" goes. */
export function sanitizeS3Key(decodedPath: string): string {
  const collapsed = decodedPath.replace(/\/+/g, '/');
  return collapsed.startsWith('/') ? collapsed.slice(1) : collapsed;
}

/**
 * GcsUri (pinot-gcs, org/apache/pinot/plugin/filesystem/GcsUri.java): the object name is URI.getPath() (decoded)
 * with runs of "/" collapsed to one and the leading "/" dropped, exactly S3PinotFS.sanitizePath.
 */
export const sanitizeGcsName = sanitizeS3Key;

/**
 * Parse `s3://bucket/prefix`, `s3a://...`, `gs://bucket/prefix`, `file:///abs/path` or `file:/abs/path`;
 * anything else is refused.
 */
export function parseStoreUri(uri: string): StoreLocation {
  const s3 = S3_URI.exec(uri);
  if (s3) {
    const [, bucket = '', rawPath = ''] = s3;
    if (!BUCKET.test(bucket)) throw invalidArgument('InvalidDeepStoreUri', `no valid bucket in ${JSON.stringify(uri)}: ${EXPECTED}`);
    return { kind: 's3', uri, bucket, key: sanitizeS3Key(decodePath(uri, rawPath)) };
  }
  const gs = GCS_URI.exec(uri);
  if (gs) {
    const [, bucket = '', rawPath = ''] = gs;
    if (!GCS_BUCKET.test(bucket)) throw invalidArgument('InvalidDeepStoreUri', `no valid GCS bucket in ${JSON.stringify(uri)}: ${EXPECTED}`);
    return { kind: 'gcs', uri, bucket, key: sanitizeGcsName(decodePath(uri, rawPath)) };
  }
  const file = FILE_URI.exec(uri);
  if (file) {
    return { kind: 'file', uri, path: path.resolve(decodePath(uri, file[1] ?? '/')) };
  }
  throw invalidArgument('InvalidDeepStoreUri', `unsupported deep-store URI ${JSON.stringify(uri)}: ${EXPECTED}`);
}

/**
 * The object `uri` names, checked to lie strictly inside `base` (same bucket and below the prefix, or below
 * the directory). A store never reads or writes outside the folder it was configured with.
 */
export function locateObject(base: StoreLocation, uri: string): StoreLocation {
  const target = parseStoreUri(uri);
  const outside = (): never => {
    throw invalidArgument('UriOutsideDeepStore', `${uri} is not an object under the deep store ${base.uri}`);
  };
  if ((base.kind === 's3' && target.kind === 's3') || (base.kind === 'gcs' && target.kind === 'gcs')) {
    const prefix = base.key.replace(/\/$/, '');
    const below = prefix === '' ? target.key : target.key.startsWith(`${prefix}/`) ? target.key.slice(prefix.length + 1) : '';
    const parts = below.split('/');
    if (target.bucket !== base.bucket || parts.some((part) => part === '' || part === '.' || part === '..')) return outside();
    return target;
  }
  if (base.kind === 'file' && target.kind === 'file') {
    const relative = path.relative(base.path, target.path);
    if (relative === '' || relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) return outside();
    return target;
  }
  return outside();
}
