import { tableTypeOf } from '../pinot-format/index.js';
import { invalidArgument } from './errors.js';

/** java.net.URLEncoder.encode(value, UTF_8): alphanumerics and `.-*_` kept, space to `+`, all else `%XX`. */
export function urlEncode(value: string): string {
  let out = '';
  for (const ch of value) {
    if (ch === ' ') {
      out += '+';
    } else if (/^[A-Za-z0-9.*_-]$/.test(ch)) {
      out += ch;
    } else {
      const code = ch.codePointAt(0) ?? 0;
      // Java would silently encode a lone surrogate as "?" (%3F): two names, one key. Refuse instead.
      if (code >= 0xd800 && code <= 0xdfff)
        throw invalidArgument('InvalidName', `name contains a lone surrogate: ${JSON.stringify(value)}`);
      for (const byte of Buffer.from(ch, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return out;
}

// Characters a URI path segment may hold unencoded (RFC 3986 pchar, without "%" and ":"). Pinot does not
// encode the table name, so anything else would make the URI invalid for java.net.URI.
const TABLE_NAME = /^[A-Za-z0-9._~!$&'()*+,;=@-]+$/;

export function assertRawTableName(rawTableName: string): void {
  if (!TABLE_NAME.test(rawTableName) || rawTableName === '.' || rawTableName === '..') {
    throw invalidArgument(
      'InvalidName',
      `invalid raw table name for a deep-store path: ${JSON.stringify(rawTableName)}`,
    );
  }
  if (tableTypeOf(rawTableName) !== undefined) {
    // Pinot's path uses the raw name (TableNameBuilder.extractRawTableName); a typed name would be a new folder.
    throw invalidArgument('InvalidName', `expected a raw table name, got ${JSON.stringify(rawTableName)}`);
  }
}

/**
 * URLEncoder keeps `.` and `..` as they are and turns `/` into `%2F`, which the S3 key and the file path
 * decode back: such names would leave the table's folder. Pinot itself never makes them; refuse them.
 */
export function assertSegmentName(segmentName: string): void {
  if (segmentName === '' || segmentName === '.' || segmentName === '..' || /[/\\\0]/.test(segmentName)) {
    throw invalidArgument('InvalidName', `invalid segment name for a deep-store path: ${JSON.stringify(segmentName)}`);
  }
}

/**
 * `<baseUri>/<rawTableName>/<URLEncoder-encoded segmentName>`, the value Pinot puts in segment.download.url:
 * Pinot's canonical deep-store location of a segment, computed exactly as the controller computes it
 * (PinotLLCRealtimeSegmentManager.createSegmentPath):
 *
 *   URIUtils.getUri(controller.data.dir, rawTableName, URIUtils.encode(segmentName))
 *
 * - URIUtils.encode is java.net.URLEncoder.encode(s, UTF_8): form encoding, not encodeURIComponent.
 * - URIUtils.getUri joins with "/" and nothing else: a base ending in "/" gives "//" in the URI (Pinot writes
 *   that into segment.download.url too; S3PinotFS.sanitizePath collapses it, so the object key is the same).
 * - There is no file extension, although the object is a compressed tar.
 *
 * Pure; the stores turn the URI into an S3 key or a file path (store-uri.ts).
 */
export function segmentUri(baseUri: string, rawTableName: string, segmentName: string): string {
  assertRawTableName(rawTableName);
  assertSegmentName(segmentName);
  return [baseUri, rawTableName, urlEncode(segmentName)].join('/');
}
