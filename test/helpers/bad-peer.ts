import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A misbehaving peer over real sockets: an HTTP server that answers every request the way a test programs it,
 * and records what it was asked (method, path, headers). Stands in for a Pinot server or a sidecar that serves
 * a corrupt, truncated or lying archive.
 *
 *   const peer = await startBadPeer({ kind: 'archive', body: gzippedTar });                      // well-formed answer
 *   peer.answer({ kind: 'cut', body, announce: body.length, send: 100 });                       // Content-Length lies
 *   peer.answer({ kind: 'status', status: 503, body: '{"error":"busy"}' });
 */
export type PeerAnswer =
  /** 200 with `body`; Content-Length set unless `chunked`; extra headers (e.g. X-Segment-Crc). */
  | { kind: 'archive'; body: Buffer; chunked?: boolean; headers?: Record<string, string> }
  /** 200 announcing `announce` bytes in Content-Length, sending the first `send` bytes of `body`, then closing. */
  | { kind: 'cut'; body: Buffer; announce: number; send: number }
  /** 200 announcing all of `body`, sending the first `send` bytes, then holding the connection open, silent. */
  | { kind: 'stall'; body: Buffer; send: number }
  /** An error answer. */
  | { kind: 'status'; status: number; body: string };

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

export interface BadPeer {
  readonly host: string;
  readonly port: number;
  readonly requests: readonly RecordedRequest[];
  /** Change the answer for the requests that follow. */
  answer(answer: PeerAnswer): void;
  close(): Promise<void>;
}

export async function startBadPeer(answer: PeerAnswer, options: { host?: string } = {}): Promise<BadPeer> {
  const host = options.host ?? '127.0.0.1';
  let current = answer;
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.resume();
    const a = current;
    switch (a.kind) {
      case 'archive':
        res.writeHead(200, {
          'Content-Type': 'application/octet-stream',
          ...(a.chunked ? {} : { 'Content-Length': String(a.body.length) }),
          ...a.headers,
        });
        res.end(a.body);
        return;
      case 'cut':
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(a.announce) });
        // Once the bytes are flushed, close the connection mid-message, as a crashing peer would.
        res.write(a.body.subarray(0, a.send), () => res.socket?.destroy());
        return;
      case 'stall':
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(a.body.length) });
        res.write(a.body.subarray(0, a.send));
        return;
      case 'status':
        res.writeHead(a.status, { 'Content-Type': 'application/json' });
        res.end(a.body);
        return;
    }
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    host,
    port: (server.address() as AddressInfo).port,
    requests,
    answer(next) {
      current = next;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A TCP port on `host` with nothing listening (bound, then released). */
export async function closedPort(host = '127.0.0.1'): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
