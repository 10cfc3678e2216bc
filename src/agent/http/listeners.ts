// The sidecar's ports as one HttpServer (sidecar.ts): the main port, HTTPS when a certificate is configured, and
// the optional plain-HTTP probe port; plus what keeps them current: certificate and token rotation.

import type { Server as HttpsServer } from 'node:https';
import type { Hono } from 'hono';
import { ConfigError } from '../config.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../metrics.js';
import { createProbeApp } from './probe-port.js';
import { startHttpServer, type HttpServer } from './server.js';
import {
  CertificateReloader,
  httpsServerOptions,
  loadTlsMaterial,
  secureContextOptions,
  TlsMaterialError,
  type TlsFiles,
  type TlsMaterial,
} from './tls.js';
import { hasTokenFiles, readTokenFiles, TokenFileError, TokenFilesWatcher, type TokenFiles } from './tokens.js';

export interface SecurityConfig extends TokenFiles {
  tlsCertFile?: string;
  tlsKeyFile?: string;
  tlsClientCaFile?: string;
}

/** What is read before anything listens: a problem here is a ConfigError (exit 2), like any bad option. */
export interface Security {
  tls: { files: TlsFiles; material: TlsMaterial } | undefined;
  tokens: TokenFilesWatcher | undefined;
}

export async function readSecurity(config: SecurityConfig, logger: Logger): Promise<Security> {
  let tokens: TokenFilesWatcher | undefined;
  let tls: Security['tls'];
  try {
    if (hasTokenFiles(config)) tokens = new TokenFilesWatcher(config, await readTokenFiles(config), logger);
    if (config.tlsCertFile !== undefined && config.tlsKeyFile !== undefined) {
      const files: TlsFiles = {
        certFile: config.tlsCertFile,
        keyFile: config.tlsKeyFile,
        ...(config.tlsClientCaFile === undefined ? {} : { clientCaFile: config.tlsClientCaFile }),
      };
      tls = { files, material: await loadTlsMaterial(files) };
    }
  } catch (err) {
    if (err instanceof TokenFileError) throw new ConfigError([err.message]);
    if (err instanceof TlsMaterialError) throw new ConfigError([`--tls-cert-file / --tls-key-file: ${err.message}`]);
    throw err;
  }
  return { tls, tokens };
}

export interface ListenerOptions {
  host: string;
  port: number;
  /** The plain probe port; undefined = none. */
  httpPort?: number;
  metrics: Metrics;
  logger: Logger;
}

/** The main port and the probe port behind one HttpServer; `probePort` is undefined without --http-port. */
export interface Listeners extends HttpServer {
  readonly tls: boolean;
  readonly probePort: number | undefined;
}

export async function startListeners(app: Hono, security: Security, options: ListenerOptions): Promise<Listeners> {
  const { tls, tokens } = security;
  const main = await startHttpServer(app, {
    port: options.port,
    host: options.host,
    ...(tls ? { tls: httpsServerOptions(tls.material) } : {}),
  });
  let probe: HttpServer | undefined;
  try {
    probe =
      options.httpPort === undefined
        ? undefined
        : await startHttpServer(createProbeApp(app), { port: options.httpPort, host: options.host });
  } catch (err) {
    await main.close(0);
    throw err;
  }
  let reloader: CertificateReloader | undefined;
  if (tls) {
    const expiry = (m: TlsMaterial) => options.metrics.tlsCertificateExpiry.set(m.notAfter.getTime() / 1000);
    expiry(tls.material);
    const server = main.server as HttpsServer;
    reloader = new CertificateReloader({
      files: tls.files,
      initial: tls.material,
      logger: options.logger.child({ component: 'tls' }),
      // New handshakes get the new pair; connections already open (a download in flight) keep theirs.
      apply: (m) => {
        server.setSecureContext(secureContextOptions(m));
        expiry(m);
      },
    });
    reloader.start();
  }
  tokens?.start();
  return {
    port: main.port,
    server: main.server,
    tls: tls !== undefined,
    probePort: probe?.port,
    close: async (graceMs) => {
      reloader?.stop();
      tokens?.stop();
      await Promise.all([main.close(graceMs), probe?.close(graceMs)]);
    },
  };
}
