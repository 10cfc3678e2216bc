import net from 'node:net';

/**
 * HTTP over a raw socket, for requests fetch() would not send as written: fetch (and the WHATWG URL
 * parser) normalise `..`, `%2e%2e` and backslashes before anything leaves the process, so a
 * traversal test through fetch would test the client, not the server.
 */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  /** De-chunked body. */
  body: Buffer;
  /** The response ended properly (final chunk or full Content-Length) rather than being cut off. */
  complete: boolean;
}

export function rawRequest(
  port: number,
  target: string,
  options: { method?: string; headers?: Record<string, string>; host?: string } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: options.host ?? '127.0.0.1' });
    const chunks: Buffer[] = [];
    socket.setTimeout(30_000, () => socket.destroy(new Error(`no response to ${target} within 30 s`)));
    socket.on('connect', () => {
      const headers = { Host: `127.0.0.1:${port}`, Connection: 'close', ...options.headers };
      const head = [
        `${options.method ?? 'GET'} ${target} HTTP/1.1`,
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
        '',
        '',
      ].join('\r\n');
      socket.write(head, 'latin1');
    });
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', reject);
    socket.on('close', () => {
      try {
        resolve(parseResponse(Buffer.concat(chunks), options.method === 'HEAD'));
      } catch (err) {
        reject(err);
      }
    });
  });
}

export function parseResponse(raw: Buffer, headOnly = false): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`no complete response head in ${raw.length} bytes`);
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(lines[0]!.split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const rest = raw.subarray(end + 4);
  if (headOnly) return { status, headers, body: Buffer.alloc(0), complete: true };
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') return { status, headers, ...dechunk(rest) };
  const length = headers['content-length'] === undefined ? undefined : Number(headers['content-length']);
  return { status, headers, body: rest, complete: length === undefined || rest.length === length };
}

function dechunk(data: Buffer): { body: Buffer; complete: boolean } {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', offset);
    if (lineEnd < 0) return { body: Buffer.concat(parts), complete: false };
    const size = parseInt(data.subarray(offset, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) return { body: Buffer.concat(parts), complete: false };
    if (size === 0) return { body: Buffer.concat(parts), complete: true };
    const start = lineEnd + 2;
    if (data.length < start + size) {
      parts.push(data.subarray(start));
      return { body: Buffer.concat(parts), complete: false };
    }
    parts.push(data.subarray(start, start + size));
    offset = start + size + 2;
  }
}
