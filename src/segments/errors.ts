// Errors of the segments library. The HTTP layer (src/agent) maps them in one place:
// InvalidNameError → 400, SegmentNotFoundError (and its subclass UnsafeSegmentError) → 404,
// errors raised after the first byte can only abort the response.

import { errorMessage, SidecarError } from '../errors.js';

/** A table or segment name from a request is malformed. `field` says which part, `value` what was sent. */
export class InvalidNameError extends SidecarError {
  constructor(
    readonly field: string,
    readonly value: string,
    reason: string,
    options: { cause?: unknown } = {},
  ) {
    super(`invalid ${field} ${JSON.stringify(abbreviate(value))}: ${reason}`, options);
  }
}

/** Request values can be kilobytes long; the message only needs enough to recognise them. */
function abbreviate(value: string): string {
  return value.length > 80 ? `${value.slice(0, 80)}…` : value;
}

/** No sealed, servable segment of that name in that table on this server. */
export class SegmentNotFoundError extends SidecarError {
  constructor(
    readonly table: string,
    readonly segment: string,
    readonly reason: string,
  ) {
    super(`segment ${segment} of table ${table} not found: ${reason}`);
  }
}

/**
 * The segment exists but holds something we refuse to archive (a symlink that could lead out of the
 * segment, a FIFO that would block the reader, a device). For a client it is as good as absent, so it
 * is a SegmentNotFoundError and the HTTP layer needs no extra rule.
 */
export class UnsafeSegmentError extends SegmentNotFoundError {}

/** A segment file is malformed (e.g. `creation.meta` of the wrong size), or an archive is unreadable. */
export class CorruptSegmentError extends SidecarError {
  constructor(
    readonly path: string,
    reason: string,
    options: { cause?: unknown } = {},
  ) {
    super(`corrupt segment data at ${path}: ${reason}`, options);
  }
}

/** Asked to treat something as a segment that is none: a directory without creation.meta (`pinot-sidecar crc /tmp`). */
export class NotASegmentError extends SidecarError {
  constructor(readonly path: string) {
    super(
      `${path} is not a segment: no creation.meta in it or in its v3/ (expected a segment directory or a segment tarball)`,
    );
  }
}

/**
 * The segment changed or disappeared while it was being read (Pinot reloaded, replaced or deleted it).
 * Retriable: asking again later gets either the new copy or a 404.
 */
export class SegmentChangedError extends SidecarError {
  constructor(
    readonly segmentDir: string,
    reason: string,
    options: { cause?: unknown } = {},
  ) {
    super(`segment ${segmentDir} changed while being read: ${reason}`, { ...options, retriable: true });
  }
}

/** An I/O error reading a segment that is not explained by the segment changing (EIO, EMFILE, ...). */
export class SegmentReadError extends SidecarError {
  constructor(
    readonly path: string,
    options: { cause?: unknown } = {},
  ) {
    super(`cannot read ${path}: ${errorMessage(options.cause)}`, { ...options, retriable: true });
  }
}

/**
 * A block could not be compressed: a compression worker failed or exited mid-job, or the pool was closed
 * (shutdown). Retriable: the next attempt runs on a fresh worker.
 */
export class CompressionError extends SidecarError {
  constructor(reason: string, options: { cause?: unknown } = {}) {
    super(`compression failed: ${reason}`, { ...options, retriable: true });
  }
}
