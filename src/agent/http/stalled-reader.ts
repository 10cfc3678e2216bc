import type { ServerResponse } from 'node:http';

/**
 * How long a download may wait on a reader that takes no bytes before it is ended (`--download-idle-timeout-seconds`).
 */
export const DEFAULT_DOWNLOAD_IDLE_TIMEOUT_MS = 60_000;

export interface StalledReaderWatch {
  /** The response accepted more bytes: the reader is alive. */
  progress(): void;
  /** The download ended: forget the response. */
  stop(): void;
}

/**
 * Calls `onStall` once bytes have waited for the reader for `idleMs` without moving, so a reader that
 * stops reading (or a peer gone without a FIN) gives its download slot back after the idle window.
 *
 * Node's socket timeout cannot say this: `net.Socket._onTimeout` re-arms itself whenever the
 * handle's write queue size differs from the size recorded when the last write was dispatched,
 * and a write that the kernel took only part of always differs once, so a stopped reader is noticed
 * after two windows, not one (60 s configured, ~120 s observed). Here progress is tracked directly:
 * every chunk the response accepts and every drain of its socket re-arms the timer. When it fires
 * with nothing waiting for the reader (`writableLength` 0), the archive is what is slow, not the
 * reader, and the timer re-arms. A reader slower than about one archive chunk (64 KiB) per window
 * counts as stopped.
 */
export function watchForStalledReader(
  response: ServerResponse,
  idleMs: number,
  onStall: () => void,
): StalledReaderWatch {
  const socket = response.socket;
  const timer = setTimeout(function check() {
    if (response.writableLength === 0) {
      timer.refresh();
      return;
    }
    onStall();
  }, idleMs);
  const progress = () => {
    timer.refresh();
  };
  socket?.on('drain', progress);
  return {
    progress,
    stop: () => {
      clearTimeout(timer);
      // A keep-alive socket outlives this response: it must not keep a listener of it.
      socket?.off('drain', progress);
    },
  };
}
