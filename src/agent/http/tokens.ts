// Scoped tokens (README.md, "TLS and access control"): a download token for the peers that fetch segments, an admin
// token for the operator's actions, the old --token-file as both. Pinot splits its server listener the same way
// (pinot-server README, "Admin API access control": segment downloads need table data access, everything else
// administrative access, AccessControl.authorizeAdminAccess), with 401 for missing or invalid credentials and 403 for
// an identity without the right.

import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Context, MiddlewareHandler } from 'hono';
import { SidecarError, errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import { ForbiddenError, UnauthorizedError } from './errors.js';
import { SecretDirWatch } from './secret-dir-watch.js';

/** `download`: reads (segment downloads, status, debug views); `admin`: every request that changes something. */
export type Scope = 'download' | 'admin';

/** The token files of `serve`; each names the scopes its token grants. */
export interface TokenFiles {
  /** Both scopes (the option that predates scopes). */
  tokenFile?: string;
  downloadTokenFile?: string;
  adminTokenFile?: string;
}

/** A token file that cannot be used: unreadable, empty, or more than one word. Never quotes the file's content. */
export class TokenFileError extends SidecarError {}

/**
 * The scope a request needs. Reads are `download`, anything else `admin`: POST /repair/run, POST /drain/prepare, and
 * any route added later that changes state is an admin action by default (fail closed).
 */
export function requiredScope(method: string): Scope {
  return method === 'GET' || method === 'HEAD' ? 'download' : 'admin';
}

/**
 * The token a request presents, from the headers clients actually send:
 * - `Authorization: Bearer <token>` (curl, `pinot-sidecar fetch` and `status`);
 * - `Authorization: Basic base64(<user>:<token>)`, which a Pinot server or minion sends on segment downloads when
 *   `pinot.server.segment.fetcher.auth.token` (or `pinot.minion.segment.fetcher.auth.token`) is set:
 *   StaticTokenAuthProvider prefixes the configured token with `Basic` unless it already starts with it, and
 *   HttpSegmentFetcher sends it as the Authorization header (AuthProviderUtils.toRequestHeaders). The user name is
 *   not checked: the password is the secret.
 * Undefined when there is none.
 */
export function presentedToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (bearer) return bearer[1];
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 && colon < decoded.length - 1 ? decoded.slice(colon + 1) : undefined;
}

export type Verdict = { ok: true } | { ok: false; status: 401 | 403 };

interface Grant {
  digest: Buffer;
  scopes: ReadonlySet<Scope>;
}

/** The tokens in force, by their SHA-256 digest only: the clear token is dropped once read. */
export class TokenSet {
  private constructor(private readonly grants: readonly Grant[]) {}

  static of(entries: ReadonlyArray<{ token: string; scopes: readonly Scope[] }>): TokenSet {
    return new TokenSet(entries.map((e) => ({ digest: digest(e.token), scopes: new Set(e.scopes) })));
  }

  get size(): number {
    return this.grants.length;
  }

  /**
   * 401 without a token or with an unknown one, 403 with a known token that lacks `scope`. Every grant is compared,
   * in constant time on equal-length digests, whatever matched first: the time says nothing about the tokens.
   */
  check(presented: string | undefined, scope: Scope): Verdict {
    if (presented === undefined) return { ok: false, status: 401 };
    const d = digest(presented);
    let known = false;
    let granted = false;
    for (const grant of this.grants) {
      const match = timingSafeEqual(d, grant.digest);
      known ||= match;
      granted ||= match && grant.scopes.has(scope);
    }
    if (granted) return { ok: true };
    return { ok: false, status: known ? 403 : 401 };
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Reads the token files into a TokenSet; throws TokenFileError naming the option and the file. */
export async function readTokenFiles(files: TokenFiles): Promise<TokenSet> {
  const entries: Array<{ token: string; scopes: Scope[] }> = [];
  for (const [file, option, scopes] of [
    [files.tokenFile, '--token-file (PINOT_SIDECAR_TOKEN_FILE)', ['download', 'admin']],
    [files.downloadTokenFile, '--download-token-file (PINOT_SIDECAR_DOWNLOAD_TOKEN_FILE)', ['download']],
    [files.adminTokenFile, '--admin-token-file (PINOT_SIDECAR_ADMIN_TOKEN_FILE)', ['download', 'admin']],
  ] as const) {
    if (file === undefined) continue;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new TokenFileError(`${option}: cannot read ${file}: ${errorMessage(err)}`);
    }
    const token = text.trim();
    if (token === '' || /\s/.test(token))
      throw new TokenFileError(`${option}: ${file} must hold one non-empty token without spaces`);
    entries.push({ token, scopes: [...scopes] });
  }
  return TokenSet.of(entries);
}

export function hasTokenFiles(files: TokenFiles): boolean {
  return files.tokenFile !== undefined || files.downloadTokenFile !== undefined || files.adminTokenFile !== undefined;
}

/**
 * The token files, read again whenever their directory changes (a Kubernetes Secret is rewritten through a symlink
 * swap, like a certificate): a rotated token is in force without a restart. A set that cannot be read keeps the
 * tokens in force and logs one error per distinct problem; no token is ever logged.
 */
export class TokenFilesWatcher {
  private readonly watch: SecretDirWatch;
  private lastProblem: string | undefined;
  private reading: Promise<void> = Promise.resolve();

  constructor(
    private readonly files: TokenFiles,
    private current: TokenSet,
    private readonly logger: Logger,
    settleMs = 200,
  ) {
    this.watch = new SecretDirWatch({
      files: [files.tokenFile, files.downloadTokenFile, files.adminTokenFile],
      onChange: () => void this.reload(),
      logger,
      what: 'token',
      settleMs,
    });
  }

  get tokens(): TokenSet {
    return this.current;
  }

  start(): void {
    this.watch.start();
  }

  stop(): void {
    this.watch.stop();
  }

  /** Reads the files now; resolves once the new set is in force or the problem is logged. */
  reload(): Promise<void> {
    this.reading = this.reading.then(async () => {
      try {
        this.current = await readTokenFiles(this.files);
        if (this.lastProblem !== undefined) this.logger.info({ event: 'tokens_reloaded' }, 'token files usable again');
        this.lastProblem = undefined;
      } catch (err) {
        const problem = errorMessage(err);
        if (problem !== this.lastProblem)
          this.logger.error(
            { event: 'token_reload_failed', err: problem },
            'token files not usable; keeping the tokens in force',
          );
        this.lastProblem = problem;
      }
    });
    return this.reading;
  }
}

export interface ScopedAuthOptions {
  /** The tokens in force at each request (they may be rotated). */
  tokens: () => TokenSet;
  /** Paths served without a token (health probes and Prometheus scrapes by default). */
  openPaths: ReadonlySet<string>;
  /** Called for each refused request before the error is thrown (the download counter learns of it here). */
  onReject?: (c: Context) => void;
}

/**
 * One global middleware, not one per route: a route added later is protected by default, and as an admin action
 * unless it only reads.
 */
export function scopedAuth(options: ScopedAuthOptions): MiddlewareHandler {
  return async (c, next) => {
    if (options.openPaths.has(c.req.path)) return next();
    const scope = requiredScope(c.req.method);
    const verdict = options.tokens().check(presentedToken(c.req.header('authorization')), scope);
    if (verdict.ok) return next();
    options.onReject?.(c);
    if (verdict.status === 403) throw new ForbiddenError(`this token does not grant ${scope} actions`);
    throw new UnauthorizedError();
  };
}
