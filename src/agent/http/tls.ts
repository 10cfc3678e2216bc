// HTTPS on the sidecar's port (README.md, "TLS and access control"): the certificate pair and the client CA read
// from PEM files, the options of node:https, the client allow-list, and the reload of all three when cert-manager
// rewrites them. Pinot's own admin port does the same with its keystore (`pinot.server.adminapi.access.protocols`
// `https`, ListenerConfigUtil); the sidecar reads the PEM files a Kubernetes TLS Secret holds instead.

import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ServerOptions } from 'node:https';
import { createSecureContext, type PeerCertificate, type SecureContextOptions, type TLSSocket } from 'node:tls';
import type { MiddlewareHandler } from 'hono';
import { SidecarError, errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import { ForbiddenError } from './errors.js';
import { SecretDirWatch } from './secret-dir-watch.js';

/** The PEM files of the serving certificate, and of the CA client certificates must chain to (mutual TLS). */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** With it, every client must present a certificate this CA signed. */
  clientCaFile?: string;
}

/** What the files held when last read successfully. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  /** The leaf certificate's notAfter (the gauge pinot_sidecar_tls_certificate_expiry_timestamp_seconds). */
  notAfter: Date;
  subject: string;
}

/** A certificate pair or CA that cannot be used: unreadable, not PEM, key and certificate apart, expired. */
export class TlsMaterialError extends SidecarError {}

/**
 * TLS 1.2 is the floor: TLS 1.0 and 1.1 are deprecated (RFC 8996) and disabled by default in the JDKs Pinot runs on,
 * so every Pinot fetcher (HttpsSegmentFetcher) speaks 1.2 or 1.3.
 */
export const TLS_MIN_VERSION = 'TLSv1.2';

/**
 * Reads and checks the files: the key must be the certificate's, the certificate must be valid now, and node must
 * accept the whole set as a secure context. Throws TlsMaterialError naming the file and what is wrong; the key's
 * bytes never appear in a message.
 */
export async function loadTlsMaterial(files: TlsFiles, now: Date = new Date()): Promise<TlsMaterial> {
  const cert = await readPem(files.certFile, 'certificate');
  const key = await readPem(files.keyFile, 'private key');
  const ca = files.clientCaFile === undefined ? undefined : await readPem(files.clientCaFile, 'client CA');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (err) {
    throw new TlsMaterialError(`${files.certFile} holds no PEM certificate: ${errorMessage(err)}`);
  }
  let matches: boolean;
  try {
    matches = leaf.checkPrivateKey(createPrivateKey(key));
  } catch (err) {
    throw new TlsMaterialError(`${files.keyFile} holds no usable PEM private key: ${errorMessage(err)}`);
  }
  if (!matches)
    throw new TlsMaterialError(`the key in ${files.keyFile} does not belong to the certificate in ${files.certFile}`);
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() <= now.getTime())
    throw new TlsMaterialError(`the certificate in ${files.certFile} expired at ${notAfter.toISOString()}`);
  if (new Date(leaf.validFrom).getTime() > now.getTime())
    throw new TlsMaterialError(`the certificate in ${files.certFile} is not valid before ${leaf.validFrom}`);
  if (ca !== undefined) {
    try {
      new X509Certificate(ca);
    } catch (err) {
      throw new TlsMaterialError(`${files.clientCaFile!} holds no PEM certificate: ${errorMessage(err)}`);
    }
  }
  const material: TlsMaterial = { cert, key, ...(ca ? { ca } : {}), notAfter, subject: leaf.subject };
  try {
    createSecureContext(secureContextOptions(material));
  } catch (err) {
    throw new TlsMaterialError(`${files.certFile} / ${files.keyFile} refused by TLS: ${errorMessage(err)}`);
  }
  return material;
}

async function readPem(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new TlsMaterialError(`cannot read the ${what} ${file}: ${errorMessage(err)}`);
  }
}

/** The context node:tls builds from the material; also what server.setSecureContext takes on rotation. */
export function secureContextOptions(m: TlsMaterial): SecureContextOptions {
  return { cert: m.cert, key: m.key, ...(m.ca ? { ca: m.ca } : {}), minVersion: TLS_MIN_VERSION };
}

/**
 * Options of the https server. With a client CA, a client without a certificate the CA signed never completes the
 * handshake (requestCert + rejectUnauthorized), so no route, not even a 401, is reachable without one.
 */
export function httpsServerOptions(m: TlsMaterial): ServerOptions {
  const mutual = m.ca !== undefined;
  return { ...secureContextOptions(m), requestCert: mutual, rejectUnauthorized: mutual };
}

/** The names a client certificate answers to: its subject CN, then every subjectAltName value (without `DNS:`...). */
export function certificateNames(cert: Pick<PeerCertificate, 'subject' | 'subjectaltname'>): string[] {
  const names: string[] = [];
  const cn = cert.subject?.CN;
  if (typeof cn === 'string') names.push(cn);
  else if (Array.isArray(cn)) names.push(...(cn as string[]));
  for (const entry of (cert.subjectaltname ?? '').split(/,\s*/)) {
    const colon = entry.indexOf(':');
    if (colon > 0) names.push(entry.slice(colon + 1));
  }
  return names;
}

/** Whether any name of the certificate is on the allow-list (exact, case-sensitive: names are identities). */
export function allowedByList(names: readonly string[], allow: ReadonlySet<string>): boolean {
  return names.some((n) => allow.has(n));
}

/**
 * The allow-list of `--tls-client-allow`: the CA says who a client is, the list says who of them may talk to the
 * sidecar (a CA shared by the whole mesh signs more than Pinot servers). A refused client gets a 403 naming its
 * certificate's names, so the operator sees which name to add.
 */
export function clientAllowList(allow: readonly string[]): MiddlewareHandler {
  const allowed = new Set(allow);
  return async (c, next) => {
    const socket = (c.env as { incoming?: { socket?: TLSSocket } } | undefined)?.incoming?.socket;
    // The plain probe port (probe-port.ts) hands its few paths to this app: no certificate there to check.
    if (socket?.encrypted !== true) return next();
    const cert = socket.getPeerCertificate();
    const names = cert && Object.keys(cert).length > 0 ? certificateNames(cert) : [];
    if (!allowedByList(names, allowed))
      throw new ForbiddenError(
        `client certificate ${names.length > 0 ? `(${names.join(', ')})` : '(none)'} is not on --tls-client-allow`,
      );
    return next();
  };
}

export interface CertificateReloaderOptions {
  files: TlsFiles;
  /** The material in use, loaded at start. */
  initial: TlsMaterial;
  /** Installs a new pair (server.setSecureContext). */
  apply: (material: TlsMaterial) => void;
  logger: Logger;
  /** Wait after a change before reading, so a writer that touches the files one by one is read once. */
  settleMs?: number;
}

/**
 * Certificate rotation without a restart. cert-manager (through the kubelet's Secret volume) swaps a `..data`
 * symlink in the files' directory: the files themselves never change in place, so the directory is watched, not the
 * files. Any change reads the set again; a set that cannot be used (a pair written half-way, an expired certificate)
 * keeps the pair in use and logs one error per distinct problem, never the key.
 */
export class CertificateReloader {
  private current: TlsMaterial;
  private readonly watch: SecretDirWatch;
  private lastProblem: string | undefined;
  private reloading: Promise<void> = Promise.resolve();

  constructor(private readonly options: CertificateReloaderOptions) {
    this.current = options.initial;
    const { certFile, keyFile, clientCaFile } = options.files;
    this.watch = new SecretDirWatch({
      files: [certFile, keyFile, clientCaFile],
      onChange: () => void this.reload(),
      logger: options.logger,
      what: 'tls',
      ...(options.settleMs === undefined ? {} : { settleMs: options.settleMs }),
    });
  }

  get material(): TlsMaterial {
    return this.current;
  }

  start(): void {
    this.watch.start();
  }

  stop(): void {
    this.watch.stop();
  }

  /** Reads the files now; resolves once the outcome is applied or logged. */
  reload(): Promise<void> {
    this.reloading = this.reloading.then(() => this.readAndApply());
    return this.reloading;
  }

  private async readAndApply(): Promise<void> {
    const { logger, files } = this.options;
    let next: TlsMaterial;
    try {
      next = await loadTlsMaterial(files);
    } catch (err) {
      const problem = errorMessage(err);
      if (problem !== this.lastProblem)
        logger.error(
          { event: 'tls_reload_failed', err: problem, keptNotAfter: this.current.notAfter.toISOString() },
          'new TLS certificate not usable; keeping the one in use',
        );
      this.lastProblem = problem;
      return;
    }
    this.lastProblem = undefined;
    if (sameMaterial(next, this.current)) return;
    this.options.apply(next);
    this.current = next;
    logger.info(
      { event: 'tls_reloaded', subject: next.subject, notAfter: next.notAfter.toISOString() },
      'TLS certificate reloaded',
    );
  }
}

function sameMaterial(a: TlsMaterial, b: TlsMaterial): boolean {
  return a.cert.equals(b.cert) && a.key.equals(b.key) && (a.ca ?? Buffer.alloc(0)).equals(b.ca ?? Buffer.alloc(0));
}
