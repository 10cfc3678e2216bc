import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

/**
 * Structured JSON logs, one line per event. Libraries (helix, segments, deepstore) take a Logger
 * from the agent rather than creating their own, so that tests can silence them and the agent can
 * add fields (table, segment) with `child()`.
 */
export type Logger = PinoLogger;

export interface LoggerOptions {
  level?: string;
  name?: string;
  /** A file to append JSON lines to instead of stdout (the demo keeps its terminal for people). */
  file?: string;
  /** Any pino destination (tests). */
  destination?: DestinationStream;
  /** Identical warnings/errors within this window are logged once, then counted (default 60 s; 0 = off). */
  repeatWindowMs?: number;
  now?: () => number;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const destination =
    options.destination ??
    (options.file === undefined ? undefined : pino.destination({ dest: options.file, sync: true, mkdir: true }));
  const limiter = new RepeatLimiter(options.repeatWindowMs ?? 60_000, options.now ?? Date.now);
  return pino(
    {
      name: options.name ?? 'pinot-sidecar',
      level: options.level ?? process.env.PINOT_SIDECAR_LOG_LEVEL ?? 'info',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: {
        logMethod(args, method, level) {
          // Only warnings and errors repeat in storms (a deep store down, ZooKeeper away).
          if (level < 40) return method.apply(this, args);
          const verdict = limiter.check(repeatKey(level, args, this.bindings()));
          if (verdict === 'drop') return;
          if (verdict > 0) {
            const [first, ...rest] = args;
            const obj =
              typeof first === 'object' && first !== null
                ? { ...first, suppressedRepeats: verdict }
                : { suppressedRepeats: verdict };
            const tail = typeof first === 'object' && first !== null ? rest : [first, ...rest];
            return method.apply(this, [obj, ...tail] as Parameters<typeof method>);
          }
          return method.apply(this, args);
        },
      },
    },
    destination,
  );
}

/** A logger that drops everything: the default for libraries used without a logger. */
export const silentLogger: Logger = pino({ level: 'silent' });

/**
 * Lets the first of a run of identical events through, swallows the rest for `windowMs`, and lets
 * the next one after the window through with the number it swallowed.
 */
class RepeatLimiter {
  private readonly seen = new Map<string, { until: number; suppressed: number }>();

  constructor(
    private readonly windowMs: number,
    private readonly now: () => number,
  ) {}

  /** 'drop', or the number of swallowed repeats to report with this one (0 = first of its kind). */
  check(key: string): 'drop' | number {
    if (this.windowMs <= 0) return 0;
    const now = this.now();
    const entry = this.seen.get(key);
    if (entry && now < entry.until) {
      entry.suppressed += 1;
      return 'drop';
    }
    const suppressed = entry?.suppressed ?? 0;
    this.seen.set(key, { until: now + this.windowMs, suppressed: 0 });
    if (this.seen.size > 2_000) this.prune(now);
    return suppressed;
  }

  private prune(now: number): void {
    for (const [key, entry] of this.seen) if (entry.until <= now && entry.suppressed === 0) this.seen.delete(key);
  }
}

function repeatKey(level: number, args: unknown[], bindings: Record<string, unknown>): string {
  const [first, second] = args;
  const obj = typeof first === 'object' && first !== null ? (first as Record<string, unknown>) : {};
  const msg = typeof first === 'string' ? first : typeof second === 'string' ? second : '';
  const err = obj.err instanceof Error ? obj.err.message : '';
  return JSON.stringify([
    level,
    msg,
    err,
    obj.table ?? bindings.table,
    obj.segment ?? bindings.segment,
    obj.path,
    bindings.component,
  ]);
}
