import { isUtf8 } from 'node:buffer';
import { promisify } from 'node:util';
import { gunzip, gunzipSync, gzipSync, type ZlibOptions } from 'node:zlib';
import { RecordNotRewritableError, ZNRecordParseError } from './errors.js';

/**
 * Helix's ZNRecord, the JSON document in every znode Pinot touches (ZNRecordSerializer;
 * docs/pinot-interop.md, "ZNRecord bytes").
 * Field maps keep the file's order for every key but integer-like ones, which JavaScript puts first
 * (Helix's LinkedHashMaps keep file order for all). No Helix reader depends on that order, and a
 * rewrite never re-prints the maps (see rewriteSimpleField), so the bytes keep the file's order.
 */
export interface ZNRecord {
  id: string;
  simpleFields: Record<string, string>;
  mapFields: Record<string, Record<string, string>>;
  listFields: Record<string, string[]>;
}

/** A record as read from a znode, with what an exact rewrite needs. */
export interface ZNRecordDocument {
  record: ZNRecord;
  /** The bytes were gzip (Helix sniffs 1f 8b: GZipCompressionUtil.isCompressed; auto-compression needs no flag). */
  compressed: boolean;
  source: ZNRecordSource;
}

/**
 * The record's JSON bytes as read (inflated) and where each simpleFields value token sits in them.
 * A rewrite splices one token and keeps every other byte: unknown fields, number spellings (`1.0`,
 * `1e3`, 20-digit integers), escapes, key order, whitespace and layout all stay as they were.
 */
export interface ZNRecordSource {
  /** The znode path, for errors. */
  path: string;
  json: Buffer;
  /** [start, end) of each value token of simpleFields[key] in `json`; more than one when the key repeats. */
  simpleFieldValues: ReadonlyMap<string, readonly ByteSpan[]>;
  /** Why no simpleField of this record can be rewritten exactly, or null. */
  unrewritable: string | null;
}

export interface ByteSpan {
  start: number;
  end: number;
}

/** A znode's bytes as JSON: inflated when they were gzip. */
export interface ZNRecordJson {
  json: Uint8Array;
  compressed: boolean;
}

/** Helix's write limit (ZNRecord.SIZE_LIMIT); larger JSON is gzipped even without enableCompression. */
export const ZNRECORD_SIZE_LIMIT = 1000 * 1024;

/**
 * The most JSON bytes one record may hold after inflating (and the most a plain record may be), so
 * a gzip bomb costs at most this much memory. ZooKeeper stores at most jute.maxbuffer (~1 MiB) per
 * znode and Helix's ZNRecordSerializer refuses to write more than ZNRecord.SIZE_LIMIT gzip bytes,
 * so a real record is at most ~1 MB times its compression ratio: an ideal state of 100,000
 * segments × 3 replicas in Helix's layout is 31.5 MiB of JSON and gzips 23:1 with realistic
 * segment and server names (48:1 with perfectly regular ones), so the largest record Helix can
 * store is ~23 MiB (~47 MiB at the regular extreme). 64 MiB is above both; a 1 MB bomb that
 * inflates to 1 GB is cut off at 64 MiB.
 */
export const DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024;

/**
 * Helix's parser refuses deeper documents: Jackson 2.15+ StreamReadConstraints.DEFAULT_MAX_DEPTH
 * (1000 open objects/arrays, the record's own object included). Pinot 1.4.0 uses Helix 1.3.2 with
 * Jackson 2.19.1, Pinot 1.5.0 Jackson 2.21.1 (both from Pinot's jackson-bom), and neither overrides
 * the constraint. Refusing at parse also keeps a 100k-deep record from reaching any code that
 * could recurse on it.
 */
export const MAX_NESTING_DEPTH = 1000;

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Parse znode bytes, plain or gzip, any key order, unknown fields tolerated (ZNRecordSerializer
 * .deserialize). Unlike Helix, which logs and returns null, a bad record is a typed error that names
 * the path, so the caller can log it and skip just that record. Inflates on the calling thread: for
 * tools and tests; the sidecar reads through readRecord (znode-io.ts), which inflates in zlib's
 * threadpool.
 */
export function parseZNRecord(
  bytes: Uint8Array | null | undefined,
  path = '<znode>',
  maxRecordBytes = DEFAULT_MAX_RECORD_BYTES,
): ZNRecordDocument {
  const checked = requireBytes(bytes, path, maxRecordBytes);
  if (!isGzip(checked)) return parseZNRecordJson({ json: checked, compressed: false }, path);
  let json: Buffer;
  try {
    json = gunzipSync(checked, inflateOptions(maxRecordBytes));
  } catch (cause) {
    throw inflateError(cause, path, maxRecordBytes);
  }
  return parseZNRecordJson({ json, compressed: true }, path);
}

const gunzipAsync = promisify(gunzip);

/**
 * The JSON of a znode: gzip (sniffed, as GZipCompressionUtil.isCompressed does) is inflated in zlib's
 * threadpool with a hard output limit, so neither a large record nor a gzip bomb stalls the event loop or
 * takes more memory than `maxRecordBytes`. A record past the limit is a ZNRecordParseError, skipped like a corrupt one.
 */
export async function inflateZNRecord(
  bytes: Uint8Array | null | undefined,
  path: string,
  maxRecordBytes: number,
): Promise<ZNRecordJson> {
  const checked = requireBytes(bytes, path, maxRecordBytes);
  if (!isGzip(checked)) return { json: checked, compressed: false };
  try {
    return { json: await gunzipAsync(checked, inflateOptions(maxRecordBytes)), compressed: true };
  } catch (cause) {
    throw inflateError(cause, path, maxRecordBytes);
  }
}

function requireBytes(bytes: Uint8Array | null | undefined, path: string, maxRecordBytes: number): Uint8Array {
  if (!bytes || bytes.length === 0) throw new ZNRecordParseError(path, 'empty znode (no ZNRecord)');
  if (!isGzip(bytes) && bytes.length > maxRecordBytes) {
    throw new ZNRecordParseError(
      path,
      `record is ${bytes.length} bytes, past the ${describeBytes(maxRecordBytes)} limit`,
    );
  }
  return bytes;
}

function inflateOptions(maxRecordBytes: number): ZlibOptions {
  return { maxOutputLength: maxRecordBytes };
}

function inflateError(cause: unknown, path: string, maxRecordBytes: number): ZNRecordParseError {
  if ((cause as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
    return new ZNRecordParseError(path, `gzip body inflates past the ${describeBytes(maxRecordBytes)} limit`, {
      cause,
    });
  }
  return new ZNRecordParseError(path, 'corrupt gzip body', { cause });
}

function describeBytes(n: number): string {
  return n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)} MiB` : `${n}-byte`;
}

/** Parse a record's JSON (already inflated), keeping its bytes for an exact rewrite. */
export function parseZNRecordJson(input: ZNRecordJson, path = '<znode>'): ZNRecordDocument {
  const json = Buffer.isBuffer(input.json)
    ? input.json
    : Buffer.from(input.json.buffer, input.json.byteOffset, input.json.byteLength);
  // Jackson's UTF8StreamJsonParser refuses malformed UTF-8 (and a lenient decode would not survive a rewrite).
  if (!isUtf8(json)) throw new ZNRecordParseError(path, 'not UTF-8 text (Helix reads records as UTF-8 JSON)');
  const scanned = new RecordScanner(json, path).scan();
  return { record: scanned.record, compressed: input.compressed, source: { path, json, ...scanned.source } };
}

/**
 * Check, before anything is uploaded, that `simpleFields[key]` can be rewritten exactly: the key is
 * there once, in a record with one simpleFields object. Throws RecordNotRewritableError saying why not.
 */
export function checkSimpleFieldRewritable(doc: ZNRecordDocument, key: string): void {
  locateSimpleField(doc, key);
}

/**
 * The znode bytes of `doc` with simpleFields[key] set to `value` and nothing else changed: the text
 * as read with only that value token replaced (written as Helix's Jackson writes a string), then
 * gzipped again if it was gzip (Helix sniffs 1f 8b). A plain record that grows past
 * ZNRecord.SIZE_LIMIT is gzipped, as ZNRecordUtil.shouldCompress makes Helix do on its next write;
 * one still past the limit is refused, as ZNRecordSerializer refuses it. Throws
 * RecordNotRewritableError (not retriable) when the rewrite cannot be exact.
 */
export function rewriteSimpleField(doc: ZNRecordDocument, key: string, value: string): Buffer {
  const span = locateSimpleField(doc, key);
  const { json: read, path } = doc.source;
  const json = Buffer.concat([
    read.subarray(0, span.start),
    Buffer.from(jacksonQuote(value), 'utf8'),
    read.subarray(span.end),
  ]);
  const compress = doc.compressed || json.length > ZNRECORD_SIZE_LIMIT;
  const bytes = compress ? gzipSync(json) : json;
  if (bytes.length > ZNRECORD_SIZE_LIMIT) {
    const form = compress ? 'gzipped' : 'plain';
    throw new RecordNotRewritableError(
      path,
      key,
      `the rewritten record is ${bytes.length} bytes ${form}, past Helix's ${ZNRECORD_SIZE_LIMIT}-byte write limit`,
    );
  }
  return bytes;
}

function locateSimpleField(doc: ZNRecordDocument, key: string): ByteSpan {
  const { path, unrewritable, simpleFieldValues } = doc.source;
  if (unrewritable !== null) throw new RecordNotRewritableError(path, key, unrewritable);
  const spans = simpleFieldValues.get(key) ?? [];
  if (spans.length === 0) throw new RecordNotRewritableError(path, key, 'simpleFields has no such key');
  if (spans.length > 1) {
    throw new RecordNotRewritableError(
      path,
      key,
      `simpleFields holds the key ${spans.length} times; rewriting one would leave the others`,
    );
  }
  return spans[0]!;
}

export interface SerializeOptions {
  /** gzip the JSON; otherwise only when enableCompression is set or the JSON exceeds Helix's limit. */
  compress?: boolean;
}

/**
 * Serialize a new record in ZNRecordSerializer's byte layout: Jackson's DefaultPrettyPrinter
 * — 2-space indent, `"key" : value`, `{ }` and `[ ]` for empties, arrays on one line, no trailing
 * newline — top-level order id, simpleFields, mapFields, listFields. gzip follows
 * ZNRecordUtil.shouldCompress. Records read from ZooKeeper are never re-printed: see rewriteSimpleField.
 */
export function serializeZNRecord(record: ZNRecord, options: SerializeOptions = {}): Buffer {
  const doc = {
    id: record.id,
    simpleFields: record.simpleFields,
    mapFields: record.mapFields,
    listFields: record.listFields,
  };
  const json = Buffer.from(jacksonPrettyJson(doc), 'utf8');
  const compress =
    options.compress === true ||
    record.simpleFields.enableCompression?.toLowerCase() === 'true' ||
    json.length > ZNRECORD_SIZE_LIMIT;
  return compress ? gzipSync(json) : json;
}

/** A new empty record, as `new ZNRecord(id)`. */
export function newZNRecord(id: string, fields: Partial<Omit<ZNRecord, 'id'>> = {}): ZNRecord {
  return { id, simpleFields: {}, mapFields: {}, listFields: {}, ...fields };
}

const SHORT_ESCAPES: Readonly<Record<number, string>> = {
  0x08: '\\b',
  0x09: '\\t',
  0x0a: '\\n',
  0x0c: '\\f',
  0x0d: '\\r',
  0x22: '\\"',
  0x5c: '\\\\',
};
// eslint-disable-next-line no-control-regex -- JSON escapes exactly these control characters.
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;

/**
 * A JSON string exactly as Helix writes it. ZNRecordSerializer calls `mapper.writeValue(
 * ByteArrayOutputStream, record)` on a Jackson 2 ObjectMapper, which writes with UTF8JsonGenerator:
 * `"` `\` and the control characters \b \t \n \f \r get short escapes, every other control character
 * `\u00XX` with upper-case hex (CharTypes.sOutputEscapes128, WRITE_HEX_UPPER_CASE on by default),
 * each UTF-16 surrogate `\uXXXX` on its own, so U+1F600 is `\uD83D\uDE00`
 * (UTF8JsonGenerator._outputMultiByteChar; COMBINE_UNICODE_SURROGATES_IN_UTF8, since 2.18, is off by
 * default), and everything else, `/` and DEL included, as raw UTF-8.
 */
export function jacksonQuote(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return `"${value}"`;
  let out = '"';
  let copied = 0;
  for (let i = 0; i < value.length; i += 1) {
    const c = value.charCodeAt(i);
    let escape: string;
    if (c < 0x20 || c === 0x22 || c === 0x5c) escape = SHORT_ESCAPES[c] ?? `\\u00${hex(c, 2)}`;
    else if (c >= 0xd800 && c <= 0xdfff) escape = `\\u${hex(c, 4)}`;
    else continue;
    out += value.slice(copied, i) + escape;
    copied = i + 1;
  }
  return `${out}${value.slice(copied)}"`;
}

function hex(c: number, width: number): string {
  return c.toString(16).toUpperCase().padStart(width, '0');
}

/**
 * JSON in Jackson's DefaultPrettyPrinter layout, the one Helix and Pinot's REST resources write
 * (`JsonUtils.objectToPrettyString`), strings escaped as jacksonQuote. Iterative, so no depth of
 * input can overflow the stack.
 */
export function jacksonPrettyJson(value: unknown): string {
  interface Open {
    entries: Array<[string, unknown]> | unknown[];
    next: number;
    object: boolean;
    /** Indentation level of this container's entries (arrays stay on one line). */
    depth: number;
  }
  const out: string[] = [];
  const stack: Open[] = [];
  const write = (v: unknown, depth: number): void => {
    if (Array.isArray(v)) {
      if (v.length === 0) out.push('[ ]');
      else {
        out.push('[ ');
        stack.push({ entries: v, next: 0, object: false, depth });
      }
    } else if (isObject(v)) {
      const entries = Object.entries(v).filter(([, inner]) => inner !== undefined);
      if (entries.length === 0) out.push('{ }');
      else {
        out.push('{');
        stack.push({ entries, next: 0, object: true, depth: depth + 1 });
      }
    } else out.push(scalarJson(v));
  };
  write(value, 0);
  for (let open = stack.at(-1); open !== undefined; open = stack.at(-1)) {
    if (open.next === open.entries.length) {
      stack.pop();
      out.push(open.object ? `\n${'  '.repeat(open.depth - 1)}}` : ' ]');
      continue;
    }
    const entry = open.entries[open.next];
    if (open.object) {
      const [key, inner] = entry as [string, unknown];
      out.push(`${open.next > 0 ? ',' : ''}\n${'  '.repeat(open.depth)}${jacksonQuote(key)} : `);
      open.next += 1;
      write(inner, open.depth);
    } else {
      if (open.next > 0) out.push(', ');
      open.next += 1;
      write(entry, open.depth);
    }
  }
  return out.join('');
}

function scalarJson(v: unknown): string {
  if (typeof v === 'string') return jacksonQuote(v);
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return 'null';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------------------------------------
// The scanner: one pass over the bytes with an explicit stack (no recursion, so no depth can
// overflow it) that validates JSON, builds the record the way Helix's Jackson reads it, and notes
// where each simpleFields value sits. It reads bytes, not a decoded string: offsets are what a
// splice needs, and each value is decoded on its own into a string of its own (a slice of one big
// string would keep the whole record alive as long as any value of it).

/** What a container means to Helix: only the first levels of a ZNRecord are read. */
type Role =
  | 'record'
  /** simpleFields, and each inner map of mapFields: Map<String, String>. */
  | 'strings'
  | 'mapFields'
  | 'listFields'
  /** Each list of listFields: List<String>. */
  | 'list'
  /** Anything Helix ignores (unknown fields): validated, not kept. */
  | 'ignored';

interface Frame {
  object: boolean;
  role: Role;
  /** Where this container sits, for messages: "simpleFields", "mapFields.seg1". */
  label: string;
  /** The field name just read (objects). */
  key: string;
  /** The map or list being filled (not for 'ignored'). */
  target: Record<string, unknown> | string[] | null;
  /** This is the record's simpleFields object: note where its values sit. */
  simpleFields: boolean;
}

type ScalarKind = 'string' | 'number' | 'true' | 'false' | 'null';

/** What the scanner expects next. */
type Expect = 'value' | 'value-or-close' | 'key' | 'key-or-close' | 'comma-or-close';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const LITERALS = [
  ['true', Buffer.from('true')],
  ['false', Buffer.from('false')],
  ['null', Buffer.from('null')],
] as const;

class RecordScanner {
  private id: string | null = null;
  private simpleFields: Record<string, string> = stringMap();
  private mapFields: Record<string, Record<string, string>> = stringMap();
  private listFields: Record<string, string[]> = stringMap();
  private readonly spans = new Map<string, ByteSpan[]>();
  /** How many times the record holds a top-level "simpleFields" (Jackson keeps the last). */
  private simpleFieldsSeen = 0;
  /** Set by scanString: the string had an escape / a non-ASCII byte. */
  private escaped = false;
  private ascii = true;
  /** Set by scanScalar: the end of the scalar token just read. */
  private tokenEnd = 0;

  constructor(
    private readonly json: Buffer,
    private readonly path: string,
  ) {}

  scan(): { record: ZNRecord; source: Pick<ZNRecordSource, 'simpleFieldValues' | 'unrewritable'> } {
    const { json } = this;
    const bom = json[0] === 0xef && json[1] === 0xbb && json[2] === 0xbf;
    let i = skipWhitespace(json, bom ? 3 : 0);
    if (json[i] !== OPEN_OBJECT) {
      throw i < json.length && isValueStart(json[i]!) ? this.shapeError('not a JSON object') : this.malformed(i, "'{'");
    }
    const stack: Frame[] = [];
    let expect: Expect = 'value';
    for (;;) {
      i = skipWhitespace(json, i);
      const frame = stack[stack.length - 1];
      const c = json[i];
      if (expect === 'comma-or-close') {
        if (frame === undefined) break;
        if (c === 0x2c) {
          i += 1;
          expect = frame.object ? 'key' : 'value';
        } else if (c === (frame.object ? CLOSE_OBJECT : CLOSE_ARRAY)) {
          i += 1;
          stack.pop();
        } else throw this.malformed(i, frame.object ? "',' or '}'" : "',' or ']'");
        continue;
      }
      if (expect === 'key' || expect === 'key-or-close') {
        if (expect === 'key-or-close' && c === CLOSE_OBJECT) {
          i += 1;
          stack.pop();
          expect = 'comma-or-close';
          continue;
        }
        if (c !== QUOTE) throw this.malformed(i, 'a quoted field name');
        const end = this.scanString(i);
        frame!.key = frame!.role === 'ignored' ? '' : this.decodeString(i, end);
        i = skipWhitespace(json, end);
        if (json[i] !== 0x3a) throw this.malformed(i, "':'");
        i += 1;
        expect = 'value';
        continue;
      }
      if (expect === 'value-or-close' && c === CLOSE_ARRAY) {
        i += 1;
        stack.pop();
        expect = 'comma-or-close';
        continue;
      }
      if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        if (stack.length >= MAX_NESTING_DEPTH) {
          throw this.shapeError(
            `nests deeper than ${MAX_NESTING_DEPTH} levels; Helix cannot read it (Jackson StreamReadConstraints)`,
          );
        }
        const object = c === OPEN_OBJECT;
        stack.push(this.open(frame, object));
        i += 1;
        expect = object ? 'key-or-close' : 'value-or-close';
        continue;
      }
      const kind = this.scanScalar(i);
      this.scalar(frame!, kind, i, this.tokenEnd);
      i = this.tokenEnd;
      expect = 'comma-or-close';
    }
    if (i < json.length) throw this.malformed(i, 'the end of the record');
    if (this.id === null) throw this.shapeError('missing "id"');
    return {
      record: { id: this.id, simpleFields: this.simpleFields, mapFields: this.mapFields, listFields: this.listFields },
      source: {
        simpleFieldValues: this.spans,
        // A splice would edit one of them, and Helix reads only the last.
        unrewritable:
          this.simpleFieldsSeen > 1 ? `the record holds "simpleFields" ${this.simpleFieldsSeen} times` : null,
      },
    };
  }

  /** A container starts inside `parent` (undefined: the record itself). */
  private open(parent: Frame | undefined, object: boolean): Frame {
    if (parent === undefined) return newFrame(object, 'record', '', null);
    const key = parent.key;
    switch (parent.role) {
      case 'record':
        if (key === 'simpleFields' || key === 'mapFields' || key === 'listFields') {
          if (!object) throw this.shapeError(`${key} is not an object`);
          const target = stringMap();
          if (key === 'simpleFields') {
            this.simpleFieldsSeen += 1;
            this.simpleFields = target as Record<string, string>;
            this.spans.clear();
            return newFrame(object, 'strings', key, target, { simpleFields: true });
          }
          if (key === 'mapFields') this.mapFields = target as Record<string, Record<string, string>>;
          else this.listFields = target as Record<string, string[]>;
          return newFrame(object, key, key, target);
        }
        if (key === 'id') throw this.shapeError('"id" is not a string');
        return newFrame(object, 'ignored', key, null);
      case 'strings':
        throw this.shapeError(`${parent.label}.${key} holds ${object ? 'an object' : 'a list'}, not a string`);
      case 'list':
        throw this.shapeError(
          `${parent.label}[${(parent.target as string[]).length}] holds ${object ? 'an object' : 'a list'}, not a string`,
        );
      case 'mapFields': {
        if (!object) throw this.shapeError(`mapFields.${key} is not an object`);
        const target = stringMap();
        (parent.target as Record<string, unknown>)[key] = target;
        return newFrame(object, 'strings', `mapFields.${key}`, target);
      }
      case 'listFields': {
        if (object) throw this.shapeError(`listFields.${key} is not a list`);
        const target: string[] = [];
        (parent.target as Record<string, unknown>)[key] = target;
        return newFrame(object, 'list', `listFields.${key}`, target);
      }
      case 'ignored':
        return newFrame(object, 'ignored', parent.label, null);
    }
  }

  /** A scalar token [start, end) inside `frame`. */
  private scalar(frame: Frame, kind: ScalarKind, start: number, end: number): void {
    const key = frame.key;
    switch (frame.role) {
      case 'record':
        if (key === 'id') {
          this.id = kind === 'null' ? null : this.scalarText(kind, start, end);
        } else if (key === 'simpleFields' || key === 'mapFields' || key === 'listFields') {
          if (kind !== 'null') throw this.shapeError(`${key} is not an object`);
          // Helix would hold null here; an empty map reads the same to every reader.
          if (key === 'simpleFields') {
            this.simpleFieldsSeen += 1;
            this.simpleFields = stringMap();
            this.spans.clear();
          } else if (key === 'mapFields') this.mapFields = stringMap();
          else this.listFields = stringMap();
        }
        return;
      case 'strings': {
        if (kind === 'null') throw this.shapeError(`${frame.label}.${key} holds null, not a string`);
        (frame.target as Record<string, string>)[key] = this.scalarText(kind, start, end);
        if (frame.simpleFields) {
          const spans = this.spans.get(key);
          if (spans) spans.push({ start, end });
          else this.spans.set(key, [{ start, end }]);
        }
        return;
      }
      case 'list': {
        const list = frame.target as string[];
        if (kind === 'null') throw this.shapeError(`${frame.label}[${list.length}] holds null, not a string`);
        list.push(this.scalarText(kind, start, end));
        return;
      }
      case 'mapFields':
        if (kind !== 'null') throw this.shapeError(`mapFields.${key} is not an object`);
        (frame.target as Record<string, unknown>)[key] = stringMap();
        return;
      case 'listFields':
        throw this.shapeError(`listFields.${key} is not a list`);
      case 'ignored':
        return;
    }
  }

  /**
   * A scalar as Helix's Jackson reads it into a String (StdDeserializer._parseString): a string
   * decoded; a number or boolean coerced through JsonParser.getValueAsString, which for a number is
   * the token's own text (`1.0`, `1e3`, `-0` and 20-digit integers stay as written).
   */
  private scalarText(kind: ScalarKind, start: number, end: number): string {
    // scanScalar has just scanned this token, so a string's escaped / ascii flags are its own.
    if (kind === 'string') return this.decodeString(start, end);
    return this.json.toString('latin1', start, end);
  }

  /** The value of the string token [start, end) that scanString just read. */
  private decodeString(start: number, end: number): string {
    if (this.escaped) return JSON.parse(this.json.toString('utf8', start, end)) as string;
    return this.json.toString(this.ascii ? 'latin1' : 'utf8', start + 1, end - 1);
  }

  /** The kind of the scalar token at `i`; its end goes to tokenEnd. */
  private scanScalar(i: number): ScalarKind {
    const { json } = this;
    const c = json[i];
    if (c === QUOTE) {
      this.tokenEnd = this.scanString(i);
      return 'string';
    }
    if (c === 0x2d || isDigit(c)) {
      this.tokenEnd = this.scanNumber(i);
      return 'number';
    }
    for (const [kind, bytes] of LITERALS) {
      // A record cut inside a literal has fewer bytes left than the literal: not a match (compare() would throw).
      if (i + bytes.length <= json.length && json.compare(bytes, 0, bytes.length, i, i + bytes.length) === 0) {
        this.tokenEnd = i + bytes.length;
        return kind;
      }
    }
    throw this.malformed(i, 'a JSON value');
  }

  /** The index after the closing quote of the string starting at `start`; notes escapes and non-ASCII. */
  private scanString(start: number): number {
    const { json } = this;
    let high = 0;
    this.escaped = false;
    for (let i = start + 1; i < json.length; i += 1) {
      const c = json[i]!;
      high |= c;
      if (c === QUOTE) {
        this.ascii = high < 0x80;
        return i + 1;
      }
      if (c < 0x20) throw this.malformed(i, 'an escaped control character');
      if (c !== BACKSLASH) continue;
      this.escaped = true;
      const e = json[i + 1];
      if (e === 0x75) {
        for (let h = i + 2; h < i + 6; h += 1)
          if (!isHexDigit(json[h])) throw this.malformed(h, 'four hex digits after \\u');
        i += 5;
      } else if (
        e === QUOTE ||
        e === BACKSLASH ||
        e === 0x2f ||
        e === 0x62 ||
        e === 0x66 ||
        e === 0x6e ||
        e === 0x72 ||
        e === 0x74
      )
        i += 1;
      else throw this.malformed(i, 'a valid escape');
    }
    throw this.malformed(json.length, 'a closing quote');
  }

  /** The index after the number starting at `start` (RFC 8259 grammar, as Jackson accepts by default). */
  private scanNumber(start: number): number {
    const { json } = this;
    let i = start;
    if (json[i] === 0x2d) i += 1;
    if (json[i] === 0x30) i += 1;
    else if (isDigit(json[i])) i = skipDigits(json, i);
    else throw this.malformed(i, 'a digit');
    if (json[i] === 0x2e) {
      if (!isDigit(json[i + 1])) throw this.malformed(i + 1, 'a digit');
      i = skipDigits(json, i + 1);
    }
    if (json[i] === 0x65 || json[i] === 0x45) {
      i += 1;
      if (json[i] === 0x2b || json[i] === 0x2d) i += 1;
      if (!isDigit(json[i])) throw this.malformed(i, 'a digit');
      i = skipDigits(json, i);
    }
    return i;
  }

  private malformed(at: number, expected: string): ZNRecordParseError {
    const c = this.json[at];
    const found =
      c === undefined
        ? 'the end of the record'
        : c >= 0x20 && c < 0x7f
          ? JSON.stringify(String.fromCharCode(c))
          : `byte 0x${hex(c, 2)}`;
    return new ZNRecordParseError(this.path, `malformed JSON (expected ${expected} at byte ${at}, found ${found})`);
  }

  private shapeError(message: string): ZNRecordParseError {
    return new ZNRecordParseError(this.path, message);
  }
}

function newFrame(
  object: boolean,
  role: Role,
  label: string,
  target: Frame['target'],
  options: { simpleFields?: boolean } = {},
): Frame {
  return { object, role, label, key: '', target, simpleFields: options.simpleFields ?? false };
}

/** Null prototype: a "__proto__" key in a znode is data, not a prototype switch. */
function stringMap<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

function skipWhitespace(json: Buffer, i: number): number {
  for (;;) {
    const c = json[i];
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i += 1;
  }
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

function isHexDigit(c: number | undefined): boolean {
  return c !== undefined && (isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));
}

function skipDigits(json: Buffer, i: number): number {
  while (isDigit(json[i])) i += 1;
  return i;
}

function isValueStart(c: number): boolean {
  return c === OPEN_ARRAY || c === QUOTE || c === 0x2d || isDigit(c) || c === 0x74 || c === 0x66 || c === 0x6e;
}
