import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { UnauthorizedError } from './errors.js';

export interface BearerAuthOptions {
  token: string;
  /** Paths served without a token (health probes and Prometheus scrapes by default). */
  openPaths: ReadonlySet<string>;
  /**
   * Called for each refused request, before the 401 is sent. The refusal happens before any route
   * handler runs, so this is where a route's own accounting (the download counter) learns of it.
   */
  onReject?: (c: Context) => void;
}

/**
 * One global middleware, not one per route prefix: a route added later is protected by default.
 * The comparison hashes both sides first, so it takes the same time whatever the lengths.
 */
export function bearerAuth(options: BearerAuthOptions): MiddlewareHandler {
  const expected = digest(options.token);
  return async (c, next) => {
    if (options.openPaths.has(c.req.path)) return next();
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match || !timingSafeEqual(digest(match[1]!), expected)) {
      options.onReject?.(c);
      throw new UnauthorizedError();
    }
    return next();
  };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
