import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { HttpStatusError, SourceError } from './errors.js';

export interface HttpGetOptions {
  /** Sent as `Authorization: Bearer <token>`; only to sidecars, which may require one. */
  token?: string;
  idleTimeoutMs: number;
  /** CA and client pair for https:// URLs (client-tls.ts); node's defaults without. */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  signal?: AbortSignal;
}

export interface HttpArchive {
  body: IncomingMessage;
  /** Content-Length, or null for a chunked answer. */
  contentLength: number | null;
  /** The sidecar's `X-Segment-Crc` (the served creation.meta CRC), or null; Pinot's endpoint sends none. */
  segmentCrc: string | null;
}

const ERROR_SNIPPET_BYTES = 2048;

/**
 * GET of a segment archive over HTTP(S): a peer's sidecar, a Pinot server's admin endpoint, or an http(s)
 * deep-store URL. Like Pinot's HttpClient.downloadFile: status >= 300 fails, redirects are not followed, and
 * the announced Content-Length is handed to the reader to check. A connection without data for `idleTimeoutMs`
 * fails the source rather than hanging the command.
 */
export function httpGetArchive(url: string, options: HttpGetOptions): Promise<HttpArchive> {
  const client = url.startsWith('https:') ? https : http;
  const headers: Record<string, string> = { Accept: 'application/octet-stream, application/gzip' };
  if (options.token !== undefined) headers.Authorization = `Bearer ${options.token}`;
  return new Promise((resolve, reject) => {
    let response: IncomingMessage | undefined;
    // agent: false: one connection per download, nothing left open to keep the command alive afterwards.
    const req = client.request(url, {
      method: 'GET',
      headers,
      agent: false,
      timeout: options.idleTimeoutMs,
      ...(client === https ? (options.tls ?? {}) : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    req.on('timeout', () => {
      const err = new SourceError(`timed out: no data for ${options.idleTimeoutMs} ms`);
      response?.destroy(err);
      req.destroy(err);
    });
    // Before the answer this rejects; afterwards the same failure reaches the reader through the body.
    req.on('error', (err) => {
      if (response === undefined)
        reject(
          err instanceof SourceError || options.signal?.aborted
            ? err
            : new SourceError(`cannot download: ${err.message}`, { cause: err }),
        );
    });
    req.on('response', (res) => {
      response = res;
      const status = res.statusCode ?? 0;
      if (status >= 300) {
        void errorDetail(res).then((detail) => reject(new HttpStatusError(status, detail)));
        return;
      }
      const length = res.headers['content-length'];
      const crc = res.headers['x-segment-crc'];
      resolve({
        body: res,
        contentLength: length !== undefined && /^\d+$/.test(length) ? Number(length) : null,
        segmentCrc: typeof crc === 'string' && /^\d+$/.test(crc) ? crc : null,
      });
    });
    req.end();
  });
}

/** The start of an error answer, as one line: the `error` (sidecar) or `message` (Pinot) field when JSON. */
async function errorDetail(res: IncomingMessage): Promise<string> {
  let text = '';
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      text += chunk.toString('utf8');
      if (text.length >= ERROR_SNIPPET_BYTES) break;
    }
  } catch {
    // what arrived is enough
  } finally {
    res.destroy();
  }
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown };
    const field = body.error ?? body.message;
    if (typeof field === 'string') text = field;
  } catch {
    // not JSON
  }
  return text.replace(/\s+/g, ' ').trim().slice(0, 200);
}
