// `fleet status`'s two rounds of IO: the registry in ZooKeeper (one getChildren, then the entries' data with bounded
// parallelism), then every registered sidecar's GET /fleet/summary (bounded parallelism, a timeout per sidecar, and
// an overall deadline after which what has not answered is listed as such).

import pLimit from 'p-limit';
import type { z } from 'zod';
import { errorMessage } from '../../errors.js';
import { isZkCode, type ZkSession } from '../../helix/index.js';
import { describeRequestFailure } from '../commands/status.js';
import type { SidecarResult } from './fleet-report.js';
import { decodeRegistration, registrationPath, registryPath, type Registration } from './registry-record.js';
import { fleetSummarySchema } from './summary.js';

export type RegistryEntry =
  | { instance: string; registration: Registration }
  /** An entry whose data is not a registration: listed as unreachable, never dropped. */
  | { instance: string; registration: null; problem: string };

export interface RegistryListing {
  path: string;
  entries: RegistryEntry[];
  /** Entries listed by getChildren and deleted before their data was read (a sidecar that just stopped). */
  vanished: number;
}

/** Every registered sidecar of `cluster`. No registry node at all is an empty registry. */
export async function readRegistry(
  session: ZkSession,
  options: { sidecarRoot: string; cluster: string; concurrency: number },
): Promise<RegistryListing> {
  const path = registryPath(options.sidecarRoot, options.cluster);
  let children: string[];
  try {
    children = (await session.getChildren(path)).children;
  } catch (err) {
    if (isZkCode(err, 'NO_NODE')) return { path, entries: [], vanished: 0 };
    throw err;
  }
  const limit = pLimit(options.concurrency);
  let vanished = 0;
  const read = await Promise.all(
    children.map((instance) =>
      limit(async (): Promise<RegistryEntry | null> => {
        const entryPath = registrationPath(options.sidecarRoot, options.cluster, instance);
        let data: Buffer | null;
        try {
          data = (await session.getData(entryPath)).data;
        } catch (err) {
          if (!isZkCode(err, 'NO_NODE')) throw err;
          vanished += 1;
          return null;
        }
        try {
          return { instance, registration: decodeRegistration(entryPath, data) };
        } catch (err) {
          return { instance, registration: null, problem: errorMessage(err) };
        }
      }),
    ),
  );
  return { path, entries: read.filter((e): e is RegistryEntry => e !== null), vanished };
}

export interface AskOptions {
  /** Per sidecar: connect, answer and body. */
  timeoutMs: number;
  concurrency: number;
  /** The overall deadline: once aborted, nothing more is asked and what is in flight is abandoned. */
  signal: AbortSignal;
  token?: string;
}

/** One result per entry, in the entries' order; a sidecar that does not answer is a result too. */
export async function askSidecars(entries: readonly RegistryEntry[], options: AskOptions): Promise<SidecarResult[]> {
  const limit = pLimit(options.concurrency);
  return Promise.all(entries.map((entry) => limit(() => askOne(entry, options))));
}

/**
 * GET `path` of the sidecar at `baseUrl` and parse its JSON with `schema`, within the per-sidecar timeout and the
 * overall deadline; every way of not answering becomes a reason an operator can act on, never an exception.
 */
export async function getFromSidecar<T>(
  baseUrl: string,
  path: string,
  schema: z.ZodType<T>,
  what: string,
  options: AskOptions,
): Promise<{ ok: true; data: T } | { ok: false; reason: string }> {
  if (options.signal.aborted) return { ok: false, reason: 'not asked: the overall timeout passed first' };
  const perSidecar = AbortSignal.timeout(options.timeoutMs);
  const base = baseUrl.replace(/\/+$/, '');
  try {
    const res = await fetch(`${base}${path}`, {
      headers: options.token === undefined ? {} : { Authorization: `Bearer ${options.token}` },
      signal: AbortSignal.any([perSidecar, options.signal]),
    });
    const text = await res.text();
    if (res.status !== 200) return { ok: false, reason: `${baseUrl} answered ${res.status}: ${text.slice(0, 200)}` };
    const parsed = schema.safeParse(JSON.parse(text));
    if (!parsed.success) return { ok: false, reason: `${baseUrl} answered something that is not ${what}` };
    return { ok: true, data: parsed.data };
  } catch (err) {
    if (perSidecar.aborted) return { ok: false, reason: `no answer from ${baseUrl} within ${options.timeoutMs} ms` };
    if (options.signal.aborted) return { ok: false, reason: `no answer from ${baseUrl} before the overall timeout` };
    if (err instanceof SyntaxError) return { ok: false, reason: `${baseUrl} answered something that is not JSON` };
    return { ok: false, reason: `${baseUrl}: ${describeRequestFailure(err)}` };
  }
}

async function askOne(entry: RegistryEntry, options: AskOptions): Promise<SidecarResult> {
  const { registration } = entry;
  if (registration === null)
    return {
      instance: entry.instance,
      url: null,
      zone: null,
      version: null,
      state: 'unreachable',
      reason: entry.problem,
    };
  const known = { instance: entry.instance, url: registration.url, zone: registration.zone ?? null };
  const unreachable = (reason: string): SidecarResult => ({
    ...known,
    version: registration.version,
    state: 'unreachable',
    reason,
  });
  const answer = await getFromSidecar(
    registration.url,
    '/fleet/summary',
    fleetSummarySchema,
    'a fleet summary',
    options,
  );
  if (!answer.ok) return unreachable(answer.reason);
  return { ...known, version: answer.data.version, state: 'up', summary: answer.data };
}
