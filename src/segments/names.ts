// Syntax of the names that arrive in request paths. Pure: no I/O.
//
// Pinot itself is lax here (SegmentNameUtils only rejects `\ / : * ? " < > |`), but names with spaces,
// `+`, `%` or `#` break in at least one of its paths (URLDecoder on the server, no encoding in peer URIs,
// URLEncoder in the deep store: docs/pinot-interop.md, "Names"). We accept only what round-trips
// everywhere, which also leaves no way to express a path separator, NUL or traversal.

import { rawTableName, tableTypeOf, type TableType } from '../pinot-format/index.js';
import { InvalidNameError } from './errors.js';

/** NAME_MAX of Linux filesystems: a longer name cannot be a directory in the data dir anyway. */
export const MAX_NAME_BYTES = 255;

const TABLE_NAME_CHARS = /^[A-Za-z0-9_.-]+$/;
const SEGMENT_NAME_CHARS = /^[A-Za-z0-9._-]+$/;

export interface ParsedTableName {
  /** The name without its type suffix (what deep-store keys and LLC segment names use). */
  raw: string;
  /** Set when the name carried `_REALTIME` or `_OFFLINE`. */
  type: TableType | undefined;
  /** The directory name under the data dir, when the type is known. */
  nameWithType: string | undefined;
}

/**
 * Exactly one URL decode of a path parameter. Routers hand over the still-encoded segment; decoding
 * once more than the client encoded would turn `%252e%252e` into `..`, so this is the only decode.
 * `+` stays `+` (unlike Java's URLDecoder) and is then rejected by the name rules.
 */
export function decodePathParam(value: string, field = 'path parameter'): string {
  try {
    return decodeURIComponent(value);
  } catch (err) {
    throw new InvalidNameError(field, value, 'malformed percent-encoding', { cause: err });
  }
}

/** Validates a table name, raw (`myTable`) or with its type (`myTable_REALTIME`). */
export function parseTableName(name: string): ParsedTableName {
  checkCommonRules('table', name, TABLE_NAME_CHARS, '[A-Za-z0-9_.-]');
  const type = tableTypeOf(name);
  if (type === undefined) return { raw: name, type: undefined, nameWithType: undefined };
  const raw = rawTableName(name);
  // The raw name becomes a deep-store key component (`<uri>/<raw>/<segment>`), so it must not be
  // empty or a dot name either.
  if (raw === '' || raw === '.' || raw === '..') {
    throw new InvalidNameError('table', name, `no table name before _${type}`);
  }
  return { raw, type, nameWithType: name };
}

/** Validates a segment name and returns it. */
export function validateSegmentName(name: string): string {
  checkCommonRules('segment', name, SEGMENT_NAME_CHARS, '[A-Za-z0-9._-]');
  return name;
}

function checkCommonRules(field: string, name: string, chars: RegExp, charsText: string): void {
  if (name === '') throw new InvalidNameError(field, name, 'empty');
  // All accepted characters are ASCII, but measure bytes so the message is right for any input.
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) {
    throw new InvalidNameError(field, name, `longer than ${MAX_NAME_BYTES} bytes`);
  }
  if (!chars.test(name)) throw new InvalidNameError(field, name, `only ${charsText} allowed`);
  if (name === '.' || name === '..') throw new InvalidNameError(field, name, 'dot names are not names');
}
