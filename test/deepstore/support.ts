import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { createGzip } from 'node:zlib';
import { create as createTar } from 'tar';
import { buildSegment, type BuiltSegment, type SegmentBuildSpec } from '../helpers/segment-builder.js';

export const MiB = 1024 * 1024;

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `creation.meta` as Pinot writes it: big-endian int64 crc, creationTime, optional dataCrc. */
export function creationMeta(crc: bigint, creationTime = 1_700_000_000_000n, dataCrc?: bigint): Buffer {
  const out = Buffer.alloc(dataCrc === undefined ? 16 : 24);
  out.writeBigInt64BE(crc, 0);
  out.writeBigInt64BE(creationTime, 8);
  if (dataCrc !== undefined) out.writeBigInt64BE(dataCrc, 16);
  return out;
}

export interface ArchiveFile {
  /** Path below the segment folder, e.g. `creation.meta` or `v3/columns.psf`. */
  name: string;
  data: Buffer;
}

/**
 * A segment archive the way Pinot lays it out: the segment folder first, then its files in the given order,
 * tarred by node-tar and gzipped by zlib.
 */
export async function segmentArchive(segment: string, files: ArchiveFile[]): Promise<Buffer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'deepstore-archive-'));
  try {
    for (const file of files) {
      const target = path.join(dir, segment, file.name);
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, file.data);
    }
    const entries = [
      `${segment}/`,
      ...new Set(
        files
          .map((f) => path.dirname(f.name))
          .filter((d) => d !== '.')
          .map((d) => `${segment}/${d}/`),
      ),
    ];
    const tarStream = createTar({ cwd: dir, portable: true, noDirRecurse: true }, [
      ...entries,
      ...files.map((f) => `${segment}/${f.name}`),
    ]);
    return await buffer((tarStream as unknown as Readable).pipe(createGzip({ level: 1 })));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A readable of `total` bytes produced lazily, every chunk different (its index is stamped in), so a lost,
 * doubled or reordered part changes the hash. `emitted` says how much the consumer actually pulled.
 */
export class PatternSource extends Readable {
  emitted = 0;
  private readonly hash = createHash('sha256');
  private readonly block = randomBytes(MiB);
  private index = 0;

  constructor(
    readonly total: number,
    private readonly options: { failAfter?: number; failWith?: Error; stallAfter?: number } = {},
  ) {
    super({ highWaterMark: MiB });
  }

  override _read(): void {
    const { failAfter, failWith, stallAfter } = this.options;
    if (failAfter !== undefined && this.emitted >= failAfter) {
      this.destroy(failWith ?? new Error('source failed'));
      return;
    }
    if (stallAfter !== undefined && this.emitted >= stallAfter) return; // never pushes again
    if (this.emitted >= this.total) {
      this.push(null);
      return;
    }
    const size = Math.min(MiB, this.total - this.emitted);
    const chunk = Buffer.from(this.block.subarray(0, size));
    chunk.writeUInt32BE(this.index++ >>> 0, 0);
    this.hash.update(chunk);
    this.emitted += size;
    this.push(chunk);
  }

  /** Hash of everything emitted; meaningful once the stream has ended. */
  digest(): string {
    return this.hash.copy().digest('hex');
  }
}

let counter = 0;
/** A name unique within this process, for buckets and folders. */
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}`;
}

/** What `promise` rejects with; fails the test if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

/** What `fn` throws; fails the test if it returns. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

/**
 * A segment built like Pinot builds one (test/helpers/segment-builder.ts, with its real CRC), archived the way
 * the sidecar and Pinot archive it: the segment folder first, tarred, one gzip member.
 */
export async function builtSegmentArchive(
  spec: SegmentBuildSpec,
): Promise<{ archive: Buffer; crc: string; segment: BuiltSegment }> {
  const parent = await mkdtemp(path.join(tmpdir(), 'deepstore-segment-'));
  try {
    const segment = await buildSegment(parent, spec);
    const entries = [
      `${spec.name}/`,
      ...new Set(
        segment.files
          .map((f) => path.posix.dirname(f))
          .filter((d) => d !== '.')
          .map((d) => `${spec.name}/${d}/`),
      ),
    ];
    const files = segment.files.map((f) => `${spec.name}/${f}`);
    const tarStream = createTar({ cwd: parent, portable: true, noDirRecurse: true }, [...entries, ...files]);
    const archive = await buffer((tarStream as unknown as Readable).pipe(createGzip({ level: 1 })));
    return { archive, crc: String(segment.crc), segment };
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
}
