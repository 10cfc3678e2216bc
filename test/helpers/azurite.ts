import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential, type ContainerClient } from '@azure/storage-blob';

/**
 * A real Azure Blob service on a loopback port: Azurite (Microsoft's emulator, the `azurite` package), one
 * child process per test file, its data in a fresh folder under the OS temp dir. `--blobPort 0` lets the OS pick
 * the port, read back from Azurite's "listens on" line; telemetry off (it would call out to the internet),
 * `--loose` and `--skipApiVersionCheck` so the newest SDK's headers and API version are accepted.
 */

/** Azurite's well-known development account and key (published in the Azurite documentation). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface Azurite {
  /** `http://127.0.0.1:<port>`: the origin, for a proxy in front of it. */
  readonly origin: string;
  /** `http://127.0.0.1:<port>/devstoreaccount1`: the Blob endpoint to give a client. */
  readonly endpoint: string;
  /** A client straight to Azurite (no proxy), for setup and for checking what was stored. */
  readonly service: BlobServiceClient;
  /** Create a container and return a client for it. */
  createContainer(name: string): Promise<ContainerClient>;
  stop(): Promise<void>;
}

const LISTENING = /successfully listens on (http:\/\/127\.0\.0\.1:(\d+))/;

export async function startAzurite(): Promise<Azurite> {
  const dir = await mkdtemp(path.join(tmpdir(), 'azurite-'));
  const main = createRequire(import.meta.url).resolve('azurite/dist/src/blob/main.js');
  const args = [
    main,
    '--blobHost',
    '127.0.0.1',
    '--blobPort',
    '0',
    '--location',
    dir,
    ...(process.env.AZURITE_DEBUG ? ['--debug', path.join(dir, 'debug.log')] : ['--silent']),
    '--loose',
    '--skipApiVersionCheck',
    '--disableTelemetry',
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let origin: string;
  try {
    origin = await listeningOrigin(child);
  } catch (err) {
    await stopChild(child);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const endpoint = `${origin}/${AZURITE_ACCOUNT}`;
  const service = new BlobServiceClient(endpoint, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY), {
    retryOptions: { maxTries: 1 },
  });
  return {
    origin,
    endpoint,
    service,
    async createContainer(name) {
      const container = service.getContainerClient(name);
      await container.create();
      return container;
    },
    async stop() {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves with Azurite's origin once it says it listens; rejects if it exits or says nothing for 30 s. */
function listeningOrigin(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => fail(new Error(`Azurite did not start within 30 s: ${output}`)), 30_000);
    const onData = (data: Buffer): void => {
      output += data.toString('utf8');
      const match = LISTENING.exec(output);
      if (match?.[1] !== undefined) {
        cleanup();
        resolve(match[1]);
      }
    };
    const onExit = (code: number | null): void =>
      fail(new Error(`Azurite exited (${code}) before listening: ${output}`));
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      // Keep draining its output so that a full pipe never blocks it.
      if (process.env.AZURITE_DEBUG) {
        child.stdout?.pipe(process.stderr);
        child.stderr?.pipe(process.stderr);
      } else {
        child.stdout?.resume();
        child.stderr?.resume();
      }
    };
    const fail = (err: Error): void => {
      cleanup();
      reject(err);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** The Blob service operations the tests tell apart, as the service routes them (method and `comp`). */
export type BlobOperation =
  'PutBlob' | 'PutBlock' | 'PutBlockList' | 'GetBlob' | 'GetBlobProperties' | 'DeleteBlob' | 'ListBlobs' | 'Other';

/** Which Blob operation a request to `<account>/<container>/<blob>` is (path-style, as Azurite is addressed). */
export function blobOperationOf(method: string, url: string): BlobOperation {
  const { searchParams: q } = new URL(url, 'http://proxy.invalid');
  const comp = q.get('comp');
  switch (method.toUpperCase()) {
    case 'PUT':
      if (comp === 'block') return 'PutBlock';
      if (comp === 'blocklist') return 'PutBlockList';
      return comp === null && !q.has('restype') ? 'PutBlob' : 'Other';
    case 'GET':
      if (q.get('restype') === 'container' && comp === 'list') return 'ListBlobs';
      return comp === null ? 'GetBlob' : 'Other';
    case 'HEAD':
      return comp === null ? 'GetBlobProperties' : 'Other';
    case 'DELETE':
      return 'DeleteBlob';
    default:
      return 'Other';
  }
}

/** A fault-proxy matcher for one Blob operation. */
export function blobOp(op: BlobOperation): (req: { method: string; url: string }) => boolean {
  return (req) => blobOperationOf(req.method, req.url) === op;
}
