// Errors of `pinot-sidecar fetch`. Two families:
// - SourceError: one source failed one attempt (a bad answer, a corrupt or unsafe archive, a CRC that disagrees
//   with ZooKeeper). The procedure records its reason and moves on to the next source, like Pinot's fetchers
//   (BaseSegmentFetcher tries every URI of an attempt; BaseTableDataManager.downloadSegmentFromPeers).
// - FetchError: the fetch as a whole cannot succeed; the command reports it and exits 1 (or 2 when `usage`).

import { SidecarError, type SidecarErrorOptions } from '../../errors.js';

/** One source failed one attempt. `reason` is the short text an operator reads in the summary. */
export class SourceError extends SidecarError {
  constructor(
    readonly reason: string,
    options: SidecarErrorOptions = {},
  ) {
    super(reason, { retriable: true, ...options });
  }
}

/** The source answered HTTP status >= 300 (Pinot's HttpClient raises HttpErrorStatusException the same way). */
export class HttpStatusError extends SourceError {
  constructor(
    readonly status: number,
    detail: string,
  ) {
    super(`HTTP ${status}${detail === '' ? '' : `: ${detail}`}`);
  }
}

/** Fewer or more bytes than the announced size arrived (HttpClient.downloadFile checks Content-Length too). */
export class LengthMismatchError extends SourceError {
  constructor(
    readonly expected: number,
    readonly received: number,
    options: SidecarErrorOptions = {},
  ) {
    super(
      `received ${received} bytes, but ${expected} were announced (Content-Length or object size): transfer cut short or mislabelled`,
      options,
    );
  }
}

/** The bytes are not a readable gzipped tar: truncated, damaged, or another format. */
export class CorruptArchiveError extends SourceError {}

/** Compressed with a codec this tool cannot read (zstd, lz4), or not compressed at all. */
export class UnsupportedArchiveError extends SourceError {}

/** A readable archive of the wrong shape: the first entry is not `<segment>/`, or creation.meta is missing. */
export class ArchiveLayoutError extends SourceError {}

/** An entry that would be written outside the segment directory (absolute path, `..`, a link): refused outright. */
export class UnsafeEntryError extends SourceError {
  constructor(
    readonly entryPath: string,
    why: string,
  ) {
    super(`unsafe archive entry ${JSON.stringify(entryPath.slice(0, 200))}: ${why}`);
  }
}

/** The segment's creation.meta CRC disagrees with ZooKeeper's segment.crc (BaseTableDataManager.hasSameCRC). */
export class CrcMismatchError extends SourceError {
  constructor(
    readonly found: string,
    readonly expected: string,
    where: string,
  ) {
    super(`CRC mismatch: ${where} says ${found}, ZooKeeper segment.crc is ${expected}`);
  }
}

export interface FetchErrorOptions extends SidecarErrorOptions {
  /** The operator's input or setup is the cause (exit code 2), not the sources (default false). */
  usage?: boolean;
}

/** The fetch as a whole failed. `usage` marks the operator's input or setup as the cause (exit code 2). */
export class FetchError extends SidecarError {
  readonly usage: boolean;

  constructor(message: string, options: FetchErrorOptions = {}) {
    const { usage = false, ...rest } = options;
    super(message, rest);
    this.usage = usage;
  }
}

/** One failed try of one source, as the summary lists it. */
export interface SourceFailure {
  attempt: number;
  /** What was tried, e.g. `peer Server_a_8098 sidecar http://host:9700/segments/t/s`; '' when nothing could be. */
  source: string;
  reason: string;
}

/** Every attempt failed; `failures` holds each source's reason, in order. */
export class AllSourcesFailedError extends FetchError {
  constructor(
    readonly table: string,
    readonly segment: string,
    readonly attempts: number,
    readonly failures: readonly SourceFailure[],
  ) {
    super(
      `could not fetch ${segment} of ${table}: ${attempts === 1 ? 'the attempt' : `all ${attempts} attempts`} failed`,
    );
  }
}
