import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log.js';

export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

export interface CapturedLogs {
  /** The product's own logger (src/log.ts), writing JSON lines into `lines`. */
  logger: Logger;
  lines: LogLine[];
  /** Lines with this message whose fields include `fields`. */
  matching(msg: string, fields?: Record<string, unknown>): LogLine[];
}

/**
 * Capture what a component logs, through the real logger. Repeated warnings are not rate-limited
 * unless `repeatWindowMs` is given, so a test sees every line the component emits.
 */
export function captureLogs(options: { level?: string; repeatWindowMs?: number } = {}): CapturedLogs {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const logger = createLogger({
    destination,
    level: options.level ?? 'debug',
    repeatWindowMs: options.repeatWindowMs ?? 0,
  });
  return {
    logger,
    lines,
    matching: (msg, fields = {}) =>
      lines.filter((l) => l.msg === msg && Object.entries(fields).every(([k, v]) => l[k] === v)),
  };
}
