import { SidecarError } from '../errors.js';

export interface DeepStoreErrorOptions {
  /** What the store (or the transport) said: an S3 error code (`SlowDown`), a Node error code (`ECONNRESET`), ... */
  code: string;
  retriable: boolean;
  httpStatus?: number;
  /** How long the server asked us to wait (`Retry-After`), in milliseconds. */
  retryAfterMs?: number;
  cause?: unknown;
}

/**
 * Every deep-store failure the caller should act on. `retriable` says whether the same call may succeed later
 * (the caller backs off, longer when `retryAfterMs` is set); a non-retriable error is a configuration or
 * permission problem an operator has to fix (403, missing bucket, bad credentials, bad URI).
 */
export class DeepStoreError extends SidecarError {
  readonly code: string;
  readonly httpStatus: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: DeepStoreErrorOptions) {
    super(message, { retriable: options.retriable, cause: options.cause });
    this.code = options.code;
    this.httpStatus = options.httpStatus;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** A misuse the caller can fix (bad URI, bad name, bad CRC string): never retriable. */
export function invalidArgument(code: string, message: string): DeepStoreError {
  return new DeepStoreError(message, { code, retriable: false });
}
