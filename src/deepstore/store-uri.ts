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
  | { kind: 'file'; uri: string; path: string }
  /**
   * `adl2://<fileSystem>/<path>` (Azure Data Lake Storage Gen2). `fileSystem` is the URI's authority; `path` is
   * the blob (file) name as ADLSGen2PinotFS names it (azurePath()): '' for the file-system root.
   */
  | { kind: 'adl2'; uri: string; fileSystem: string; path: string };

const S3_URI = /^s3a?:\/\/([^/?#]*)([^?#]*)$/i;
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const GCS_URI = /^gs:\/\/([^/?#]*)([^?#]*)$/i;
// GCS bucket names: lower-case letters, digits, "-", "_" and "." (cloud.google.com/storage/docs/buckets#naming);
// GcsUri takes the bucket from URI.getAuthority(), not getHost(), because of the "_".
const GCS_BUCKET = /^[a-z0-9][a-z0-9._-]*[a-z0-9]$/;
// file:/abs (what Pinot's URIUtils.getUri writes for a path without a scheme), file:///abs, file://localhost/abs
const FILE_URI = /^file:(?:\/\/(?:localhost)?(?=\/)|(?!\/\/))(\/[^?#]*)$/i;

const ADL2_URI = /^adl2:\/\/([^/?#]*)([^?#]*)$/i;

const EXPECTED = 'expected s3://bucket/prefix, gs://bucket/prefix, adl2://fileSystem/prefix or file:///absolute/path';

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
 * The blob name ADLSGen2PinotFS uses for a URI path (AzurePinotFSUtil.convertUriToAzureStylePath, pinot-plugins/
 * pinot-file-system/pinot-adls): `URLDecoder.decode(uri.getRawPath(), "UTF-8")`, which is form decoding ("+"
 * becomes a space, unlike S3's URI.getPath()), then one leading and one trailing "/" removed. Runs of "/" are
 * kept: a base URI ending in "/" gives `prefix//table/segment`, as Pinot names it.
 */
export function azurePath(uri: string, rawPath: string): string {
  let decoded = decodePath(uri, rawPath.replace(/\+/g, ' '));
  if (decoded.startsWith('/')) decoded = decoded.slice(1);
  if (decoded.endsWith('/')) decoded = decoded.slice(0, -1);
  return decoded;
}

/**
 * GcsUri (pinot-gcs, org/apache/pinot/plugin/filesystem/GcsUri.java): the object name is URI.getPath() (decoded)
 * with runs of "/" collapsed to one and the leading "/" dropped, exactly S3PinotFS.sanitizePath.
 */
export const sanitizeGcsName = sanitizeS3Key;

/**
 * Parse `s3://bucket/prefix`, `s3a://...`, `gs://bucket/prefix`, `adl2://fileSystem/prefix`, `file:///abs/path` or
 * `file:/abs/path`;
 * anything else is refused.
 */
export function parseStoreUri(uri: string): StoreLocation {
  const s3 = S3_URI.exec(uri);
  if (s3) {
    const [, bucket = '', rawPath = ''] = s3;
    if (!BUCKET.test(bucket))
      throw invalidArgument('InvalidDeepStoreUri', `no valid bucket in ${JSON.stringify(uri)}: ${EXPECTED}`);
    return { kind: 's3', uri, bucket, key: sanitizeS3Key(decodePath(uri, rawPath)) };
  }
  const gs = GCS_URI.exec(uri);
  if (gs) {
    const [, bucket = '', rawPath = ''] = gs;
    if (!GCS_BUCKET.test(bucket))
      throw invalidArgument('InvalidDeepStoreUri', `no valid GCS bucket in ${JSON.stringify(uri)}: ${EXPECTED}`);
    return { kind: 'gcs', uri, bucket, key: sanitizeGcsName(decodePath(uri, rawPath)) };
  }
  const adl2 = ADL2_URI.exec(uri);
  if (adl2) {
    const [, fileSystem = '', rawPath = ''] = adl2;
    if (!BUCKET.test(fileSystem)) {
      throw invalidArgument('InvalidDeepStoreUri', `no valid file system in ${JSON.stringify(uri)}: ${EXPECTED}`);
    }
    return { kind: 'adl2', uri, fileSystem, path: azurePath(uri, rawPath) };
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
    const below =
      prefix === '' ? target.key : target.key.startsWith(`${prefix}/`) ? target.key.slice(prefix.length + 1) : '';
    const parts = below.split('/');
    if (target.bucket !== base.bucket || parts.some((part) => part === '' || part === '.' || part === '..'))
      return outside();
    return target;
  }
  if (base.kind === 'adl2' && target.kind === 'adl2') {
    if (target.fileSystem !== base.fileSystem) return outside();
    const inside = base.path === '' || target.path.startsWith(`${base.path}/`);
    let below = !inside ? '' : base.path === '' ? target.path : target.path.slice(base.path.length + 1);
    // A base written with a trailing "/" joins as "prefix//table" (segmentUri, like Pinot): one empty step there.
    if (base.uri.endsWith('/')) below = below.replace(/^\//, '');
    if (below.split('/').some((part) => part === '' || part === '.' || part === '..')) return outside();
    return target;
  }
  if (base.kind === 'file' && target.kind === 'file') {
    const relative = path.relative(base.path, target.path);
    if (relative === '' || relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative))
      return outside();
    return target;
  }
  return outside();
}
