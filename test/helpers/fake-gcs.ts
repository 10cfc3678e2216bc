// A real GCS emulator for the GCS deep-store tests: fake-gcs-server (Go, github.com/fsouza/fake-gcs-server),
// one process per test file on a free loopback port, in-memory backend.
//
// The binary is found (FAKE_GCS_SERVER, $GOBIN, $(go env GOPATH)/bin) or, when missing and Go is installed,
// built with `go install` by the run's global setup (test/setup/fake-gcs.ts), before any test file starts: on a
// fresh machine the build (module download + compile) takes minutes, far past a hook's timeout, and under the
// suite's load longer still. Nothing of fake-gcs-server is committed here; Go fetches the published module.
//
// Upload session URLs: fake-gcs-server answers a resumable-upload POST with a Location built from the
// request's Host header (unless -external-url is given, which we do not), so a client talking to it through
// the fault proxy (which forwards Host) sends its chunks through the proxy too.

import { Storage } from '@google-cloud/storage';
import { inject } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { access, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './zookeeper-server.js';

export const FAKE_GCS_MODULE = 'github.com/fsouza/fake-gcs-server@v1.56.1';
const BINARY = 'fake-gcs-server';
const INSTALL_TIMEOUT_MS = 15 * 60_000;
const LOCK = path.join(tmpdir(), 'pinot-sidecar-fake-gcs-install.lock');
const run = promisify(execFile);

async function executable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function goBinDirs(): Promise<string[]> {
  try {
    const { stdout } = await run('go', ['env', 'GOBIN', 'GOPATH'], { timeout: 30_000 });
    const [gobin = '', gopath = ''] = stdout.split('\n').map((line) => line.trim());
    return [
      gobin,
      ...gopath
        .split(path.delimiter)
        .filter((p) => p !== '')
        .map((p) => path.join(p, 'bin')),
    ].filter((d) => d !== '');
  } catch {
    return [];
  }
}

async function findBinary(): Promise<string | undefined> {
  const fromEnv = process.env['FAKE_GCS_SERVER'];
  if (fromEnv !== undefined && fromEnv !== '') {
    if (await executable(fromEnv)) return fromEnv;
    throw new Error(`FAKE_GCS_SERVER=${fromEnv} is not an executable file`);
  }
  for (const dir of await goBinDirs()) {
    const candidate = path.join(dir, BINARY);
    if (await executable(candidate)) return candidate;
  }
  return undefined;
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Whether the process that wrote its pid into the install lock is still running (an unreadable lock counts). */
async function lockHolderAlive(): Promise<boolean> {
  const pid = Number(await readFile(LOCK, 'utf8').catch(() => ''));
  if (!Number.isInteger(pid) || pid <= 0) {
    // Just created, pid not written yet; or written by an older helper: trust it until the install timeout.
    const age = await stat(LOCK).then(
      (st) => Date.now() - st.mtimeMs,
      () => Infinity,
    );
    return age < INSTALL_TIMEOUT_MS;
  }
  // Our own pid in a lock we are waiting on is a stale lock of an earlier process that had the same pid (a
  // container's pids repeat, its /tmp may not be new).
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The path of a fake-gcs-server binary, installing it with `go install` when there is none. Concurrent callers
 * (two runs on one machine) share one install: the first takes the lock file (holding its pid), the others wait
 * for the binary, or take over a lock whose process is gone.
 */
export async function ensureFakeGcsServer(options: { onInstall?: () => void } = {}): Promise<string> {
  const found = await findBinary();
  if (found !== undefined) return found;
  let lock;
  try {
    lock = await open(LOCK, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Someone else installs. A lock whose process is gone is left over from a killed run: take it over.
    return waitFor(`another run to install ${FAKE_GCS_MODULE}`, INSTALL_TIMEOUT_MS, async () => {
      const binary = await findBinary();
      if (binary !== undefined) return binary;
      if (!(await lockHolderAlive())) {
        await rm(LOCK, { force: true });
        return ensureFakeGcsServer(options);
      }
      return undefined;
    });
  }
  try {
    await lock.writeFile(String(process.pid));
    options.onInstall?.();
    try {
      await run('go', ['install', FAKE_GCS_MODULE], { timeout: INSTALL_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
    } catch (err) {
      throw new Error(
        `no ${BINARY} binary (set FAKE_GCS_SERVER or put it in $(go env GOPATH)/bin) ` +
          `and \`go install ${FAKE_GCS_MODULE}\` failed: ${String(err)}`,
      );
    }
    const binary = await findBinary();
    if (binary === undefined)
      throw new Error(`\`go install ${FAKE_GCS_MODULE}\` succeeded but no ${BINARY} binary was found`);
    return binary;
  } finally {
    await lock.close();
    await rm(LOCK, { force: true });
  }
}

export interface FakeGcs {
  /** `http://127.0.0.1:<port>`: give it to the store as its emulator endpoint (or to the fault proxy). */
  readonly endpoint: string;
  /** An SDK client straight to the emulator (no proxy, no credentials), for setup and for checking results. */
  readonly storage: Storage;
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

async function answers(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/storage/v1/b`, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/** Start fake-gcs-server on a free loopback port (plain HTTP, in-memory backend); resolves once it answers. */
export async function startFakeGcs(): Promise<FakeGcs> {
  const prepared = inject('fakeGcsServer');
  if ('error' in prepared) throw new Error(`fake-gcs-server is not available: ${prepared.error}`);
  const { binary } = prepared;
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const child: ChildProcess = spawn(
      binary,
      [
        '-scheme',
        'http',
        '-host',
        '127.0.0.1',
        '-port',
        String(port),
        '-backend',
        'memory',
        '-public-host',
        `127.0.0.1:${port}`,
        '-log-level',
        'warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4096)));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let gone = false;
    void exited.then(() => (gone = true));
    const ready = await waitFor(`fake-gcs-server on ${endpoint}`, 30_000, async () =>
      gone ? false : (await answers(endpoint)) || undefined,
    );
    if (!ready) {
      // Most likely the port was taken between freePort() and the bind: try another.
      if (attempt < 3) continue;
      throw new Error(`fake-gcs-server exited before answering on ${endpoint}: ${stderr}`);
    }
    const storage = new Storage({ apiEndpoint: endpoint, projectId: 'test', retryOptions: { autoRetry: false } });
    return {
      endpoint,
      storage,
      async createBucket(name) {
        await storage.createBucket(name);
      },
      async stop() {
        if (!gone) {
          child.kill('SIGTERM');
          await exited;
        }
      },
    };
  }
}
