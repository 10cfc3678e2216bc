import { ReadEntry, Unpack } from 'tar';
import { CODEC_SNIFF_BYTES, detectArchiveCodec } from '../../segments/index.js';
import { ArchiveLayoutError, CorruptArchiveError, SourceError, UnsafeEntryError } from './errors.js';
import { checkHead } from './stream-head.js';

const ALLOWED_TYPES = new Set(['Directory', 'File', 'OldFile', 'ContiguousFile']);

export interface TarEntryHeader {
  /** The path exactly as the archive has it. */
  path: string;
  /** node-tar's type name: File, Directory, SymbolicLink, Link, ... */
  type: string;
}

/** Pure: the problem with the `index`-th entry of an archive of `segment`, or null when it may be extracted. */
export function checkEntry(entry: TarEntryHeader, index: number, segment: string): SourceError | null {
  const raw = entry.path;
  if (raw.startsWith('/') || raw.startsWith('\\') || /^[A-Za-z]:/.test(raw))
    return new UnsafeEntryError(raw, 'absolute path');
  // node-tar also splits on backslashes when it looks for `..`; so do we.
  const parts = raw.split(/[/\\]/);
  if (parts.includes('..')) return new UnsafeEntryError(raw, "path contains '..'");
  if (entry.type === 'SymbolicLink' || entry.type === 'Link') {
    return new UnsafeEntryError(
      raw,
      `${entry.type === 'Link' ? 'hard link' : 'symbolic link'} (a Pinot segment holds only files and directories)`,
    );
  }
  if (!ALLOWED_TYPES.has(entry.type))
    return new UnsafeEntryError(raw, `entry type ${entry.type} (a Pinot segment holds only files and directories)`);
  const normalized = parts.filter((p) => p !== '' && p !== '.').join('/');
  if (index === 0) {
    if (entry.type !== 'Directory' || normalized !== segment) {
      return new ArchiveLayoutError(
        `the first entry is ${JSON.stringify(raw.slice(0, 200))} (${entry.type}), not the segment directory "${segment}/" that Pinot takes as the segment`,
      );
    }
    return null;
  }
  if (!normalized.startsWith(`${segment}/`)) {
    return new ArchiveLayoutError(
      `entry ${JSON.stringify(raw.slice(0, 200))} lies outside the segment directory "${segment}/"`,
    );
  }
  return null;
}

/**
 * Extraction of a downloaded segment archive into a private staging folder, refusing anything that is not a
 * plain segment tree. Pinot's reader (TarCompressionUtils.untar) rejects entries whose canonical path leaves
 * the output dir and takes the first entry as the segment directory (BaseTableDataManager.untarSegment:
 * `untar(...).get(0)`); we check the same, and more strictly, before node-tar writes anything:
 *
 * - node-tar's defaults only *warn* and skip on `..` and strip a leading `/`: an archive that tries either is
 *   hostile or broken, so here it fails the whole attempt (strict mode turns node-tar's own checks into errors
 *   too, as a second line).
 * - Links are refused, escaping or not: a Pinot segment holds only files and directories (the sidecar's own
 *   server refuses to archive a symlink), and a link inside the tree is how later writes escape it.
 * - Every entry must lie under `<segment>/`, the first being that directory itself.
 *
 * Extract an uncompressed tar stream into `cwd` (an empty staging folder). Resolves with the number of entries
 * once every file is on disk; rejects with the first refused entry (nothing after it is written), with the
 * stream's own error (the caller names it), or with a CorruptArchiveError for a tar node-tar cannot read.
 * Either way only once node-tar has settled (SegmentUnpack): the caller removes the folder next.
 */
export async function extractSegmentTar(tar: AsyncIterable<Buffer>, cwd: string, segment: string): Promise<number> {
  const unpack = new SegmentUnpack(cwd, segment);
  let inputError: { error: unknown } | undefined;
  try {
    for await (const chunk of checkHead(tar, CODEC_SNIFF_BYTES, refuseCompressedTar)) {
      if (!(await unpack.write(chunk))) break;
    }
  } catch (err) {
    // The stream failed (gunzip, the transfer, an interrupt, a second compression layer).
    inputError = { error: err };
  }
  const { entries, refused, error } = await unpack.finish();
  if (refused) throw refused;
  if (inputError) throw inputError.error;
  if (error !== undefined) throw describeTarFailure(error);
  if (entries === 0) throw new ArchiveLayoutError('the archive holds no entries');
  return entries;
}

/**
 * A compressed stream where the tar should be. node-tar would decompress a gzip layer by itself, and a failure
 * in it makes node-tar abort() (see SegmentUnpack: an aborted Unpack never settles); Pinot's untar reads one
 * layer only. No segment archive starts so: its first entry is the segment directory, named [A-Za-z0-9._-].
 */
function refuseCompressedTar(head: Buffer): void {
  const codec = detectArchiveCodec(head);
  if (codec === 'gzip' || codec === 'zstd' || codec === 'lz4') {
    throw new CorruptArchiveError(
      `the archive is compressed twice (${codec} inside the gzip, where the tar should be); Pinot reads one layer`,
    );
  }
}

/**
 * node-tar's Unpack with checkEntry as its filter, every failure heard, and a known end.
 *
 * A failure must not settle the extraction while node-tar is still at work: entries it parsed before the
 * failure wait in its queue behind the one being written, each with a mkdir/lstat/open/close to come, for many
 * event-loop turns. Settling early let the caller remove the staging folder under them: the removal failed
 * (ENOTEMPTY) or their calls did (ENOENT), the latter as a second 'error' event after the one listener had gone,
 * thrown as an uncaught exception. And node-tar's abort() stops parsing but never emits 'close', so nothing
 * tells when its queue has drained. Hence: every 'error' and 'warn' is listened to for the whole run; a failure
 * stops the input and refuses every later entry instead of aborting; finish() ends the Unpack, which then
 * writes out what it queued and emits 'close' once no entry is pending on the disk, as after any extraction.
 */
class SegmentUnpack {
  private readonly unpack: Unpack;
  private readonly settled: Promise<void>;
  private entries = 0;
  private refused: SourceError | undefined;
  private error: unknown;
  private stopped = false;
  private wake: (() => void) | undefined;

  constructor(
    cwd: string,
    private readonly segment: string,
  ) {
    this.unpack = new Unpack({
      cwd,
      strict: true,
      preserveOwner: false,
      // Never let node-tar sniff for zstd and decompress by itself (refuseCompressedTar).
      zstd: false,
      // Called with the raw header path before node-tar sanitises it or touches the disk.
      filter: (path, entry) => this.admit({ path, type: entry instanceof ReadEntry ? entry.type : 'File' }),
    });
    this.settled = new Promise<void>((resolve) => {
      this.unpack.once('close', resolve);
      // A CwdError (the staging folder is gone) stalls node-tar's queue for good, before anything was written:
      // 'close' never comes, and nothing is left to wait for.
      this.unpack.on('error', (err: Error) => {
        this.fail(err);
        if (err.name === 'CwdError') resolve();
      });
    });
    // Strict mode turns every warning into an 'error'; should one still come as a warning, it fails the same.
    this.unpack.on('warn', (code: string, message: string | Error) => {
      this.fail(
        message instanceof Error ? message : Object.assign(new Error(`${code}: ${message}`), { tarCode: code }),
      );
    });
  }

  /** Writes a chunk; resolves once node-tar takes more: true, or false as soon as the extraction has failed. */
  async write(chunk: Buffer): Promise<boolean> {
    if (this.stopped) return false;
    if (!this.unpack.write(chunk) && !this.stopped) await this.drainedOrStopped();
    return !this.stopped;
  }

  /** Ends the input; resolves once node-tar has settled, with what it saw. */
  async finish(): Promise<{ entries: number; refused: SourceError | undefined; error: unknown }> {
    this.unpack.end();
    await this.settled;
    return { entries: this.entries, refused: this.refused, error: this.error };
  }

  private async drainedOrStopped(): Promise<void> {
    let wake = () => {};
    const woken = new Promise<void>((resolve) => (wake = resolve));
    this.wake = wake;
    this.unpack.once('drain', wake);
    await woken;
    this.unpack.off('drain', wake);
    this.wake = undefined;
  }

  private admit(entry: TarEntryHeader): boolean {
    if (this.stopped) return false; // nothing after a refused entry or a failure is written
    const problem = checkEntry(entry, this.entries, this.segment);
    this.entries += 1;
    if (problem === null) return true;
    this.refused = problem;
    this.stop();
    return false;
  }

  private fail(err: unknown): void {
    this.error ??= err;
    this.stop();
  }

  private stop(): void {
    this.stopped = true;
    this.wake?.();
  }
}

function describeTarFailure(err: unknown): SourceError {
  const e = err as { tarCode?: unknown; code?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (typeof e.tarCode === 'string') return new CorruptArchiveError(`tar: ${message}`, { cause: err });
  // Anything else is local (a full disk, permissions on --out): still this attempt's failure, named as such.
  return new SourceError(`writing the extracted files failed: ${message}`, { cause: err });
}
