import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';

export interface HttpServer {
  readonly port: number;
  readonly server: Server;
  /**
   * Stop accepting connections and wait for in-flight requests (streaming downloads) to finish;
   * after `graceMs`, cut the remaining connections.
   */
  close(graceMs: number): Promise<void>;
}

export async function startHttpServer(app: Hono, options: { port: number; host: string }): Promise<HttpServer> {
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: options.port, hostname: options.host }, () => resolve(s as Server)) as Server;
    s.once('error', reject);
  });
  // Downloads of multi-GB segments take minutes: no request timeout; keep-alive sockets idle out.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 5_000;
  return {
    port: (server.address() as AddressInfo).port,
    server,
    close: (graceMs) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        // Idle keep-alive connections would otherwise hold close() until they time out, and a
        // connection whose download just finished becomes idle only then: sweep until closed.
        const sweeper = setInterval(() => server.closeIdleConnections(), 250);
        server.close(() => {
          clearTimeout(timer);
          clearInterval(sweeper);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
