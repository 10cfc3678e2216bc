import { pino, type Logger as PinoLogger } from 'pino';

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
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      name: options.name ?? 'pinot-sidecar',
      level: options.level ?? process.env.PINOT_SIDECAR_LOG_LEVEL ?? 'info',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.file === undefined ? undefined : pino.destination({ dest: options.file, sync: true, mkdir: true }),
  );
}

/** A logger that drops everything: the default for libraries used without a logger. */
export const silentLogger: Logger = pino({ level: 'silent' });
