import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricValue, startTestHttpServer, type TestHttpServer } from '../../helpers/http-app.js';
import { parseResponse } from '../../helpers/raw-http.js';
import { buildSegment, type BuiltSegment } from '../../helpers/segment-builder.js';

/**
 * Attacks on the HTTP surface that an adversarial review found the sidecar survived (issue 10): slowloris,
 * header floods and request-smuggling shapes. Kept as tests so they stay survived: each sends bytes over a raw socket,
 * as an attacker would, and checks that the request is refused, that no second request hidden in the first is ever
 * answered, and that the server still serves a normal download afterwards.
 */
let root: string;
let server: TestHttpServer;
let segment: BuiltSegment;
const TABLE = 'events_REALTIME';

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'sidecar-http-attacks-'));
  segment = await buildSegment(path.join(root, 'data', TABLE), { name: 'events__0__1__20240101T0000Z' });
  // A short head deadline, checked often, so that the slowloris test runs in a second.
  server = await startTestHttpServer({
    dataDir: path.join(root, 'data'),
    headersTimeoutMs: 1_000,
    timeoutCheckIntervalMs: 100,
  });
});
afterAll(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

/** Write `bytes` as they are, read until the server closes (or 10 s pass), return every response it sent. */
function exchange(bytes: string | Buffer): Promise<{ raw: Buffer; statuses: number[] }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port: server.port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () => socket.destroy());
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A server that refuses mid-upload may reset the connection: what it answered first still counts.
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') reject(err);
    });
    socket.on('close', () => {
      const raw = Buffer.concat(chunks);
      const statuses = [...raw.toString('latin1').matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
      resolve({ raw, statuses });
    });
  });
}

const download = `/segments/${TABLE}/events__0__1__20240101T0000Z`;

async function stillServes(): Promise<void> {
  const { raw } = await exchange(`GET ${download} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  const response = parseResponse(raw, false);
  expect(response.status).toBe(200);
  expect(response.complete).toBe(true);
  expect(response.headers['x-segment-crc']).toBe(String(segment.crc));
}

describe('slowloris', () => {
  it('headers trickled one byte at a time: the server closes the connection at its head deadline; downloads go on', async () => {
    const sockets = Array.from({ length: 20 }, () => net.connect({ port: server.port, host: '127.0.0.1' }));
    const closedByServer = sockets.map(
      (socket) =>
        new Promise<string>((resolve) => {
          let answer = '';
          socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
          socket.on('error', () => {});
          socket.on('close', () => resolve(answer));
        }),
    );
    const trickle = setInterval(() => {
      for (const socket of sockets) if (!socket.destroyed) socket.write('X');
    }, 50);
    for (const socket of sockets) socket.write(`GET ${download} HTTP/1.1\r\nHost: x\r\nX-Slow: `);
    try {
      // While they trickle, a normal client is served.
      await stillServes();
      const answers = await Promise.all(closedByServer);
      for (const answer of answers) expect(answer === '' || answer.startsWith('HTTP/1.1 408')).toBe(true);
    } finally {
      clearInterval(trickle);
      for (const socket of sockets) socket.destroy();
    }
    await stillServes();
  });
});

describe('header floods', () => {
  it('one huge header → 431, nothing served', async () => {
    const { statuses } = await exchange(
      `GET ${download} HTTP/1.1\r\nHost: x\r\nX-Flood: ${'a'.repeat(64 * 1024)}\r\n\r\n`,
    );
    expect(statuses).toEqual([431]);
    await stillServes();
  });

  it('thousands of small headers → 431, nothing served', async () => {
    const headers = Array.from({ length: 4000 }, (_, i) => `X-H${i}: v`).join('\r\n');
    const { statuses } = await exchange(`GET ${download} HTTP/1.1\r\nHost: x\r\n${headers}\r\n\r\n`);
    expect(statuses).toEqual([431]);
    await stillServes();
  });
});

describe('request smuggling shapes', () => {
  const hidden = `GET ${download} HTTP/1.1\r\nHost: x\r\n\r\n`;
  it.each([
    {
      name: 'Content-Length and Transfer-Encoding together',
      request: `POST /repair/run HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${hidden}`,
    },
    {
      name: 'two different Content-Lengths',
      request: `POST /repair/run HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: ${hidden.length}\r\n\r\n${hidden}`,
    },
    {
      name: 'an obfuscated Transfer-Encoding',
      request: `POST /repair/run HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n${hidden}`,
    },
    {
      name: 'a bare LF line ending inside the headers',
      request: `GET ${download} HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n`,
    },
    {
      name: 'a space before the colon',
      request: `GET ${download} HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello`,
    },
  ])('$name → 400, the hidden request is never answered', async ({ request }) => {
    const before = await metricValue(server.metrics, 'pinot_sidecar_peer_downloads_total', { result: 'success' });
    const { statuses } = await exchange(request);
    expect(statuses).toEqual([400]);
    expect(await metricValue(server.metrics, 'pinot_sidecar_peer_downloads_total', { result: 'success' })).toBe(before);
    await stillServes();
  });
});
