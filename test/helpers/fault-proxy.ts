import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fault-injecting HTTP proxy on loopback in front of an S3 endpoint (the S3 fake). Real sockets, no mocks:
 * the client under test talks HTTP to the proxy, the proxy talks HTTP to the store.
 *
 * Every request is classified as an S3 operation (path-style addressing, as the tests configure the client)
 * and logged; a test programs faults per operation (or any predicate) and then asserts on the log: how many
 * UploadPart requests were made, whether AbortMultipartUpload happened and what the store answered, ...
 *
 *   const proxy = await startFaultProxy(fake.endpoint);
 *   proxy.inject('UploadPart', faults.internalError(), { after: 1 });  // the 2nd part fails once
 *   proxy.inject('CompleteMultipartUpload', faults.forwardThenFail()); // S3 completes, client sees 500
 *   proxy.count('AbortMultipartUpload');                              // requests seen
 *
 * For long runs (the chaos soak): a rule may apply to a random share of its matches (`probability`, drawn from
 * the `random` given to startFaultProxy, so a seeded run is reproducible), observers see each request as it
 * arrives and each store answer before the client gets it, and log entries carry timestamps, the client's
 * access key id and the multipart upload id, enough to rebuild every upload window per object key.
 */

export type S3Operation =
  | 'ListBuckets'
  | 'CreateBucket'
  | 'DeleteBucket'
  | 'HeadBucket'
  | 'ListObjects'
  | 'ListMultipartUploads'
  | 'DeleteObjects'
  | 'PutObject'
  | 'CopyObject'
  | 'GetObject'
  | 'HeadObject'
  | 'DeleteObject'
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'ListParts'
  | 'Other';

/** Which S3 operation a path-style request is, from its method, path and query (as S3 itself routes them). */
export function s3OperationOf(method: string, url: string, headers: http.IncomingHttpHeaders = {}): S3Operation {
  const { pathname, searchParams: q } = new URL(url, 'http://proxy.invalid');
  const parts = pathname.split('/').filter((p) => p !== '');
  const hasKey = parts.length > 1;
  switch (method.toUpperCase()) {
    case 'GET':
      if (parts.length === 0) return 'ListBuckets';
      if (!hasKey) return q.has('uploads') ? 'ListMultipartUploads' : 'ListObjects';
      return q.has('uploadId') ? 'ListParts' : 'GetObject';
    case 'HEAD':
      return hasKey ? 'HeadObject' : 'HeadBucket';
    case 'PUT':
      if (!hasKey) return 'CreateBucket';
      if (q.has('uploadId') && q.has('partNumber')) return 'UploadPart';
      return headers['x-amz-copy-source'] ? 'CopyObject' : 'PutObject';
    case 'POST':
      if (!hasKey) return q.has('delete') ? 'DeleteObjects' : 'Other';
      if (q.has('uploads')) return 'CreateMultipartUpload';
      return q.has('uploadId') ? 'CompleteMultipartUpload' : 'Other';
    case 'DELETE':
      if (!hasKey) return 'DeleteBucket';
      return q.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
    default:
      return 'Other';
  }
}

export interface ProxiedRequest {
  readonly op: S3Operation;
  readonly method: string;
  /** Path and query as received, e.g. `/bucket/key?uploadId=...&partNumber=2`. */
  readonly url: string;
  readonly query: URLSearchParams;
  /** Request headers as received (lower-case names). */
  readonly headers: http.IncomingHttpHeaders;
}

export type Fault =
  /** 503 SlowDown (S3's throttling answer), with `Retry-After: <value>` when given. */
  | { type: 'slowDown'; retryAfter?: string }
  /** Any S3 error document: 500 InternalError, 403 AccessDenied, ... The request never reaches the store. */
  | { type: 'error'; status: number; code: string; message?: string }
  /** Destroy the client's socket: `before` the store sees the request, or `after` the store has answered. */
  | { type: 'reset'; when: 'before' | 'after' }
  /** The store performs the request and succeeds, the client gets a 500: the ambiguous success. */
  | { type: 'forwardThenFail' }
  /** Hold the request for `ms`, then forward it. */
  | { type: 'delay'; ms: number }
  /** Hold the request until `until` settles (the test decides when), then forward it. */
  | { type: 'hold'; until: Promise<unknown> }
  /**
   * Forward, then answer with the store's headers (its full Content-Length) but only the first `afterBytes`
   * of its body, and close the connection: a download cut mid-way.
   */
  | { type: 'cutBody'; afterBytes: number }
  /**
   * Forward, then answer with the store's status and headers but `body` in place of the store's (its
   * Content-Length adjusted): a store that accepted a write and serves other bytes for it.
   */
  | { type: 'replaceBody'; body: Buffer };

export const faults = {
  slowDown: (retryAfterSeconds?: number): Fault =>
    retryAfterSeconds === undefined
      ? { type: 'slowDown' }
      : { type: 'slowDown', retryAfter: String(retryAfterSeconds) },
  internalError: (): Fault => ({
    type: 'error',
    status: 500,
    code: 'InternalError',
    message: 'We encountered an internal error. Please try again.',
  }),
  accessDenied: (): Fault => ({ type: 'error', status: 403, code: 'AccessDenied', message: 'Access Denied' }),
  error: (status: number, code: string, message?: string): Fault => ({
    type: 'error',
    status,
    code,
    ...(message ? { message } : {}),
  }),
  resetBeforeForward: (): Fault => ({ type: 'reset', when: 'before' }),
  resetAfterForward: (): Fault => ({ type: 'reset', when: 'after' }),
  forwardThenFail: (): Fault => ({ type: 'forwardThenFail' }),
  delay: (ms: number): Fault => ({ type: 'delay', ms }),
  holdUntil: (until: Promise<unknown>): Fault => ({ type: 'hold', until }),
  cutBody: (afterBytes: number): Fault => ({ type: 'cutBody', afterBytes }),
  replaceBody: (body: Buffer): Fault => ({ type: 'replaceBody', body }),
};

export type RequestMatcher = S3Operation | ((req: ProxiedRequest) => boolean);

export interface InjectOptions {
  /** Let this many matching requests through untouched first (default 0). */
  after?: number;
  /** Affect this many matching requests, then stop (default 1; `Infinity` for all). */
  times?: number;
  /** Affect each matching request (past `after`) with this probability (default 1); the others pass untouched. */
  probability?: number;
}

export interface FaultHandle {
  /** Matching requests this fault was applied to. */
  readonly applied: number;
  remove(): void;
}

export interface LoggedRequest extends ProxiedRequest {
  /** The fault applied, if any. */
  readonly fault: Fault['type'] | null;
  /** Status the client received; `'reset'` when its socket was destroyed; `null` while in flight. */
  status: number | 'reset' | null;
  /** Status the store answered with, when the request was forwarded (`null` otherwise or while in flight). */
  upstreamStatus: number | null;
  /** When the request arrived (ms, `performance.timeOrigin + performance.now()`: sub-millisecond, one clock). */
  readonly startedAt: number;
  /** When the exchange with the client ended: answer sent, or its socket destroyed (`null` while open). */
  endedAt: number | null;
  /** When the store's answer came back (forwarded requests only). The store may act after the client is gone. */
  answeredAt: number | null;
  /** The access key id of the request's SigV4 `Credential=` (null when unsigned): tells clients apart. */
  readonly client: string | null;
  /** Multipart upload id: from the query, or for CreateMultipartUpload from the store's answer. */
  uploadId: string | null;
}

export interface ProxyObserver {
  /** A request arrived; its fault (if any) is chosen and in `entry.fault`. Called synchronously. */
  request?(entry: LoggedRequest): void;
  /** The store answered a forwarded request; the client has not been answered yet. Called synchronously. */
  answered?(entry: LoggedRequest): void;
}

export interface FaultProxyOptions {
  /** Source of the draws for rules with a `probability` (default Math.random). */
  random?: () => number;
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>`: the endpoint to give the client under test. */
  readonly endpoint: string;
  inject(match: RequestMatcher, fault: Fault, options?: InjectOptions): FaultHandle;
  /** Every request seen, in arrival order. */
  readonly log: readonly LoggedRequest[];
  /** Requests seen for one operation (or matching a predicate). */
  count(match: RequestMatcher): number;
  /** Forget the log and remove every fault. */
  reset(): void;
  /** Watch requests as they happen; returns the function that stops watching. */
  observe(observer: ProxyObserver): () => void;
  stop(): Promise<void>;
}

interface Rule {
  match: RequestMatcher;
  fault: Fault;
  skip: number;
  remaining: number;
  applied: number;
  probability: number;
}

function matches(match: RequestMatcher, req: ProxiedRequest): boolean {
  return typeof match === 'function' ? match(req) : req.op === match;
}

function errorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>FAULTPROXY</RequestId><HostId>fault-proxy</HostId></Error>`;
}

// Hop-by-hop headers are the proxy's own business; `expect` was already answered (Node sends 100 Continue).
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'proxy-connection', 'expect', 'upgrade']);

const clock = (): number => performance.timeOrigin + performance.now();

/** The access key id of a SigV4 `Authorization: AWS4-HMAC-SHA256 Credential=<key>/<date>/...` header. */
export function accessKeyOf(headers: http.IncomingHttpHeaders): string | null {
  const match = /Credential=([^/,\s]+)\//.exec(headers.authorization ?? '');
  return match?.[1] ?? null;
}

export async function startFaultProxy(upstream: string, options: FaultProxyOptions = {}): Promise<FaultProxy> {
  const target = new URL(upstream);
  const agent = new http.Agent({ keepAlive: true });
  const random = options.random ?? Math.random;
  let rules: Rule[] = [];
  let log: LoggedRequest[] = [];
  let observers: ProxyObserver[] = [];

  function notify(kind: keyof ProxyObserver, entry: LoggedRequest): void {
    for (const observer of observers) observer[kind]?.(entry);
  }

  function pickFault(req: ProxiedRequest): Fault | null {
    for (const rule of rules) {
      if (rule.remaining <= 0 || !matches(rule.match, req)) continue;
      if (rule.skip > 0) {
        rule.skip -= 1;
        continue;
      }
      if (rule.probability < 1 && random() >= rule.probability) continue;
      rule.remaining -= 1;
      rule.applied += 1;
      return rule.fault;
    }
    return null;
  }

  /** Forward the request and buffer the store's answer (test-sized objects only: fine for GET too). */
  function forward(
    req: http.IncomingMessage,
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (!NOT_FORWARDED.has(name) && value !== undefined) headers[name] = value;
      }
      const out = http.request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on('error', reject);
        },
      );
      out.on('error', reject);
      // A client that goes away before its body is complete (killed mid-upload) must not leave a truncated
      // request hanging at the store: abandon it, as S3 abandons a request whose connection dropped.
      const abandon = (): void => {
        if (!req.complete) out.destroy(new Error('the client went away before its request was complete'));
      };
      if (req.destroyed) abandon();
      else req.once('close', abandon);
      req.pipe(out);
    });
  }

  async function drain(req: http.IncomingMessage): Promise<void> {
    for await (const _chunk of req) {
      // discard: answer only once the client has sent everything, as S3 does for a whole-body error
    }
  }

  function sendError(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    status: number,
    code: string,
    message: string,
    extra: http.OutgoingHttpHeaders = {},
  ): void {
    const body = req.method === 'HEAD' ? '' : errorXml(code, message);
    res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), ...extra });
    res.end(body);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const info: ProxiedRequest = {
      op: s3OperationOf(req.method ?? 'GET', url, req.headers),
      method: req.method ?? 'GET',
      url,
      query: new URL(url, 'http://proxy.invalid').searchParams,
      headers: req.headers,
    };
    const fault = pickFault(info);
    const entry: LoggedRequest = {
      ...info,
      fault: fault?.type ?? null,
      status: null,
      upstreamStatus: null,
      startedAt: clock(),
      endedAt: null,
      answeredAt: null,
      client: accessKeyOf(req.headers),
      uploadId: info.query.get('uploadId'),
    };
    log.push(entry);
    res.on('finish', () => {
      entry.status = res.statusCode;
    });
    res.on('close', () => {
      entry.endedAt ??= clock();
    });
    notify('request', entry);

    if (fault?.type === 'reset' && fault.when === 'before') {
      entry.status = 'reset';
      req.socket.destroy();
      return;
    }
    if (fault?.type === 'slowDown' || fault?.type === 'error') {
      await drain(req);
      if (fault.type === 'slowDown') {
        const extra = fault.retryAfter === undefined ? {} : { 'retry-after': fault.retryAfter };
        sendError(req, res, 503, 'SlowDown', 'Please reduce your request rate.', extra);
      } else {
        sendError(req, res, fault.status, fault.code, fault.message ?? fault.code);
      }
      return;
    }
    if (fault?.type === 'delay') await new Promise((resolve) => setTimeout(resolve, fault.ms));
    if (fault?.type === 'hold') await fault.until.catch(() => undefined);

    const answer = await forward(req);
    entry.upstreamStatus = answer.status;
    entry.answeredAt = clock();
    if (info.op === 'CreateMultipartUpload')
      entry.uploadId ??= /<UploadId>([^<]+)<\/UploadId>/.exec(answer.body.toString('utf8'))?.[1] ?? null;
    notify('answered', entry);
    if (fault?.type === 'reset') {
      entry.status = 'reset';
      req.socket.destroy();
      return;
    }
    if (fault?.type === 'forwardThenFail') {
      sendError(req, res, 500, 'InternalError', 'We encountered an internal error. Please try again.');
      return;
    }
    const body = fault?.type === 'replaceBody' ? fault.body : answer.body;
    const headers = { ...answer.headers };
    for (const name of NOT_FORWARDED) delete headers[name];
    delete headers['transfer-encoding'];
    if (req.method !== 'HEAD') headers['content-length'] = String(body.length);
    res.writeHead(answer.status, headers);
    if (fault?.type === 'cutBody') {
      entry.status = 'reset';
      res.write(body.subarray(0, fault.afterBytes), () => req.socket.destroy());
      return;
    }
    res.end(body);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // The store is unreachable or the client went away: tell the client if it can still hear it.
      if (!res.headersSent && !req.socket.destroyed) sendError(req, res, 502, 'BadGateway', String(err));
      else req.socket.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    inject(match, fault, options = {}) {
      const rule: Rule = {
        match,
        fault,
        skip: options.after ?? 0,
        remaining: options.times ?? 1,
        applied: 0,
        probability: options.probability ?? 1,
      };
      rules.push(rule);
      return {
        get applied() {
          return rule.applied;
        },
        remove() {
          rules = rules.filter((r) => r !== rule);
        },
      };
    },
    get log() {
      return log;
    },
    count(match) {
      return log.filter((entry) => matches(match, entry)).length;
    },
    reset() {
      rules = [];
      log = [];
    },
    observe(observer) {
      observers.push(observer);
      return () => {
        observers = observers.filter((o) => o !== observer);
      };
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
