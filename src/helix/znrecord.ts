import { gunzipSync, gzipSync } from 'node:zlib';
import { ZNRecordParseError } from './errors.js';

/**
 * Helix's ZNRecord, the JSON document in every znode Pinot touches (pinot-protocol.md §2).
 * Field maps keep their insertion order: a parsed record keeps the file's order and new keys go
 * last, like the LinkedHashMaps Jackson gives Helix on read. (JavaScript orders integer-like keys
 * first; Pinot's keys are never integers, and no Helix reader depends on order.)
 */
export interface ZNRecord {
  id: string;
  simpleFields: Record<string, string>;
  mapFields: Record<string, Record<string, string>>;
  listFields: Record<string, string[]>;
}

/** A record as read from a znode, with what a faithful rewrite needs to keep. */
export interface ZNRecordDocument {
  record: ZNRecord;
  /** The bytes were gzip (Helix sniffs 1f 8b; auto-compression needs no flag, §2.3). */
  compressed: boolean;
  /** Top-level fields Helix does not declare; kept on rewrite so we never drop what we did not mean to. */
  extraFields: Record<string, unknown>;
}

/** Helix's write limit (ZNRecord.SIZE_LIMIT); larger JSON is gzipped even without enableCompression. */
export const ZNRECORD_SIZE_LIMIT = 1000 * 1024;

const KNOWN_FIELDS = new Set(['id', 'simpleFields', 'mapFields', 'listFields']);

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Parse znode bytes, plain or gzip, any key order, unknown fields tolerated (ZNRecordSerializer
 * .deserialize). Unlike Helix, which logs and returns null, a bad record is a typed error that names
 * the path, so the caller can log it and skip just that record.
 */
export function parseZNRecord(bytes: Uint8Array | null | undefined, path = '<znode>'): ZNRecordDocument {
  if (!bytes || bytes.length === 0) throw new ZNRecordParseError(path, 'empty znode (no ZNRecord)');
  const compressed = isGzip(bytes);
  let text: string;
  try {
    text = (compressed ? gunzipSync(bytes) : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)).toString('utf8');
  } catch (cause) {
    throw new ZNRecordParseError(path, 'corrupt gzip body', { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ZNRecordParseError(path, `malformed JSON (${(cause as Error).message})`, { cause });
  }
  if (!isObject(json)) throw new ZNRecordParseError(path, 'not a JSON object');
  const id = json.id;
  if (typeof id !== 'string') throw new ZNRecordParseError(path, 'missing "id"');
  const extraFields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json)) if (!KNOWN_FIELDS.has(k)) extraFields[k] = v;
  return {
    compressed,
    extraFields,
    record: {
      id,
      simpleFields: stringMap(json.simpleFields, path, 'simpleFields'),
      mapFields: objectOf(json.mapFields, path, 'mapFields', (v, field) => stringMap(v, path, field)),
      listFields: objectOf(json.listFields, path, 'listFields', (v, field) => stringList(v, path, field)),
    },
  };
}

export interface SerializeOptions {
  /** gzip the JSON; otherwise only when enableCompression is set or the JSON exceeds Helix's limit. */
  compress?: boolean;
  extraFields?: Record<string, unknown>;
}

/**
 * Serialize in ZNRecordSerializer's byte layout (§2.2): Jackson's DefaultPrettyPrinter — 2-space
 * indent, `"key" : value`, `{ }` and `[ ]` for empties, arrays on one line, no trailing newline —
 * top-level order id, simpleFields, mapFields, listFields. gzip follows ZNRecordUtil.shouldCompress.
 */
export function serializeZNRecord(record: ZNRecord, options: SerializeOptions = {}): Buffer {
  const doc: Record<string, unknown> = {
    id: record.id,
    simpleFields: record.simpleFields,
    mapFields: record.mapFields,
    listFields: record.listFields,
    ...options.extraFields,
  };
  const json = Buffer.from(jacksonPrettyJson(doc), 'utf8');
  const compress =
    options.compress === true ||
    record.simpleFields.enableCompression?.toLowerCase() === 'true' ||
    json.length > ZNRECORD_SIZE_LIMIT;
  return compress ? gzipSync(json) : json;
}

/** Rewrite a document read from ZooKeeper: same compression, same unknown fields, same key order. */
export function serializeDocument(doc: ZNRecordDocument): Buffer {
  return serializeZNRecord(doc.record, { compress: doc.compressed, extraFields: doc.extraFields });
}

/** A new empty record, as `new ZNRecord(id)`. */
export function newZNRecord(id: string, fields: Partial<Omit<ZNRecord, 'id'>> = {}): ZNRecord {
  return { id, simpleFields: {}, mapFields: {}, listFields: {}, ...fields };
}

/**
 * JSON in Jackson's DefaultPrettyPrinter layout, the one Helix and Pinot's REST resources write
 * (`JsonUtils.objectToPrettyString`).
 */
export function jacksonPrettyJson(value: unknown): string {
  return prettyJson(value, 0);
}

function prettyJson(value: unknown, depth: number): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return '[ ]';
    return `[ ${value.map((v) => prettyJson(v, depth)).join(', ')} ]`;
  }
  if (isObject(value)) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return '{ }';
    const pad = '  '.repeat(depth + 1);
    const body = entries.map(([k, v]) => `${pad}${JSON.stringify(k)} : ${prettyJson(v, depth + 1)}`).join(',\n');
    return `{\n${body}\n${'  '.repeat(depth)}}`;
  }
  // JSON.stringify escapes exactly what Jackson escapes in strings: quote, backslash, control characters.
  return JSON.stringify(value) ?? 'null';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function scalarString(v: unknown, path: string, field: string): string {
  // Jackson coerces JSON scalars into Map<String, String> values; so do we.
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new ZNRecordParseError(path, `${field} holds a ${v === null ? 'null' : typeof v}, not a string`);
}

function objectOf<T>(v: unknown, path: string, field: string, each: (v: unknown, field: string) => T): Record<string, T> {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw new ZNRecordParseError(path, `${field} is not an object`);
  // Null prototype: a "__proto__" key in a znode is data, not a prototype switch.
  const out: Record<string, T> = Object.create(null) as Record<string, T>;
  for (const [k, inner] of Object.entries(v)) out[k] = each(inner, `${field}.${k}`);
  return out;
}

function stringMap(v: unknown, path: string, field: string): Record<string, string> {
  return objectOf(v, path, field, (inner, f) => scalarString(inner, path, f));
}

function stringList(v: unknown, path: string, field: string): string[] {
  if (!Array.isArray(v)) throw new ZNRecordParseError(path, `${field} is not a list`);
  return v.map((inner, i) => scalarString(inner, path, `${field}[${i}]`));
}
