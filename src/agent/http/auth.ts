import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { UnauthorizedError } from './errors.js';

export interface BearerAuthOptions {
  token: string;
  /** Paths served without a token (health probes and Prometheus scrapes by default). */
  openPaths: ReadonlySet<string>;
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
    if (!match || !timingSafeEqual(digest(match[1]!), expected)) throw new UnauthorizedError();
    return next();
  };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
