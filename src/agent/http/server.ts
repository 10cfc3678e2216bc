import type { AddressInfo } from 'node:net';
import type { Server as HttpPlainServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer, type ServerOptions } from 'node:https';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';

/** node:http's server, or node:https's when the port speaks TLS: both close connections the same way. */
export type Server = HttpPlainServer | HttpsServer;

export interface HttpServer {
  readonly port: number;
  readonly server: Server;
  /**
   * Stop accepting connections and wait for in-flight requests (streaming downloads) to finish;
   * after `graceMs`, cut the remaining connections.
   */
  close(graceMs: number): Promise<void>;
}

/** Defaults of the HTTP server's own limits, defined once. */
export const HTTP_SERVER_DEFAULTS = {
  /**
   * A client must have sent its whole request head within this time. Request heads are a few hundred bytes:
   * 20 s is generous for any real client and bounds how long a slowloris connection (headers trickled one byte
   * at a time) holds a socket; Node's own default is 60 s.
   */
  headersTimeoutMs: 20_000,
  /** How often Node checks that deadline; Node's default is 30 s, which would let a 20 s limit run to 50 s. */
  timeoutCheckIntervalMs: 1_000,
} as const;

export interface HttpServerOptions {
  port: number;
  host: string;
  headersTimeoutMs?: number;
  timeoutCheckIntervalMs?: number;
  /** HTTPS with these options (tls.ts httpsServerOptions); plain HTTP without. */
  tls?: ServerOptions;
}

export async function startHttpServer(app: Hono, options: HttpServerOptions): Promise<HttpServer> {
  const headersTimeout = options.headersTimeoutMs ?? HTTP_SERVER_DEFAULTS.headersTimeoutMs;
  const connectionsCheckingInterval = options.timeoutCheckIntervalMs ?? HTTP_SERVER_DEFAULTS.timeoutCheckIntervalMs;
  const server = await new Promise<Server>((resolve, reject) => {
    // Downloads of multi-GB segments take minutes: no request timeout (a stalled reader is ended by the
    // download's own idle timeout); the request head has its deadline; keep-alive sockets idle out.
    const s = serve(
      {
        fetch: app.fetch,
        port: options.port,
        hostname: options.host,
        ...(options.tls
          ? {
              createServer: createHttpsServer,
              serverOptions: { ...options.tls, headersTimeout, connectionsCheckingInterval, requestTimeout: 0 },
            }
          : { serverOptions: { headersTimeout, connectionsCheckingInterval, requestTimeout: 0 } }),
      },
      () => resolve(s),
    ) as Server;
    s.once('error', reject);
  });
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
