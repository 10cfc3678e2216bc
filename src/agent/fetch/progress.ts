export interface ProgressOptions {
  write: (text: string) => void;
  /** True when stderr is a terminal. */
  enabled: boolean;
  now?: () => number;
  /** Nothing is drawn for downloads shorter than this. */
  showAfterMs?: number;
  /** Minimum time between two redraws. */
  intervalMs?: number;
}

export interface ProgressState {
  label: string;
  bytes: number;
  total: number | null;
  elapsedMs: number;
}

/**
 * The progress line of a long download: on a terminal only, on stderr, rewritten in place with `\r`, and only
 * once a download has run for a while (short ones print nothing). On anything else (a pipe, a log file, a
 * test) nothing at all, so the output stays one summary line.
 */
export class ProgressLine {
  private readonly now: () => number;
  private readonly showAfterMs: number;
  private readonly intervalMs: number;
  private label = '';
  private total: number | null = null;
  private startedAt = 0;
  private lastDrawAt: number | undefined;
  private drawnWidth = 0;

  constructor(private readonly options: ProgressOptions) {
    this.now = options.now ?? Date.now;
    this.showAfterMs = options.showAfterMs ?? 1_000;
    this.intervalMs = options.intervalMs ?? 200;
  }

  start(label: string, total: number | null): void {
    this.clear();
    this.label = label;
    this.total = total;
    this.startedAt = this.now();
    this.lastDrawAt = undefined;
  }

  update(bytes: number): void {
    if (!this.options.enabled) return;
    const now = this.now();
    if (now - this.startedAt < this.showAfterMs) return;
    if (this.lastDrawAt !== undefined && now - this.lastDrawAt < this.intervalMs) return;
    this.lastDrawAt = now;
    const line = formatProgress({ label: this.label, bytes, total: this.total, elapsedMs: now - this.startedAt });
    this.options.write(`\r${line}${' '.repeat(Math.max(0, this.drawnWidth - line.length))}`);
    this.drawnWidth = line.length;
  }

  /** Erase the line, if one was drawn, so the next message starts on a clean line. */
  clear(): void {
    if (this.drawnWidth === 0) return;
    this.options.write(`\r${' '.repeat(this.drawnWidth)}\r`);
    this.drawnWidth = 0;
  }
}

/** `<label>: 12.0 MiB of 40.0 MiB (30%), 5.0 MiB/s`; pure. */
export function formatProgress(state: ProgressState): string {
  const rate = state.elapsedMs > 0 ? (state.bytes * 1000) / state.elapsedMs : 0;
  const of =
    state.total === null
      ? ''
      : ` of ${formatBytes(state.total)} (${Math.floor((100 * state.bytes) / Math.max(state.total, 1))}%)`;
  return `${state.label}: ${formatBytes(state.bytes)}${of}, ${formatBytes(rate)}/s`;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}
