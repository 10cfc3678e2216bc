import type { LoggedRequest, S3Operation } from '../helpers/fault-proxy.js';

/**
 * "No segment uploaded twice at once", read off the fault proxy's log (pure).
 *
 * An upload window is one PutObject, or one multipart upload (CreateMultipartUpload ... UploadPart ...
 * Complete/Abort, joined by their upload id), from one process (the request's access key id), for one object
 * key. It spans from its first request's arrival to its last request's end, where a request ends when the
 * exchange with the client ended or when the store answered, whichever is later (the store may still act for
 * a client that is gone). Requests that faults answered count too: they are that process trying to upload.
 *
 * Two windows on the same key that overlap in time are a concurrent double upload.
 */

export interface UploadWindow {
  key: string;
  client: string;
  kind: 'put' | 'multipart';
  start: number;
  end: number;
  requests: number;
  /** True when at least one of its requests reached the store. */
  reachedStore: boolean;
}

const PUT: S3Operation = 'PutObject';
const MULTIPART: ReadonlySet<S3Operation> = new Set([
  'CreateMultipartUpload',
  'UploadPart',
  'CompleteMultipartUpload',
  'AbortMultipartUpload',
]);

export function uploadWindows(
  log: readonly LoggedRequest[],
  now = performance.timeOrigin + performance.now(),
): UploadWindow[] {
  const windows: UploadWindow[] = [];
  const multipart = new Map<string, UploadWindow>();
  for (const request of log) {
    if (request.op !== PUT && !MULTIPART.has(request.op)) continue;
    const key = objectKey(request.url);
    const client = request.client ?? 'unsigned';
    const end = Math.max(request.endedAt ?? now, request.answeredAt ?? 0);
    const reached = request.upstreamStatus !== null;
    if (request.op === PUT) {
      windows.push({ key, client, kind: 'put', start: request.startedAt, end, requests: 1, reachedStore: reached });
      continue;
    }
    const id = request.uploadId === null ? null : `${client}\u0000${key}\u0000${request.uploadId}`;
    const open = id === null ? undefined : multipart.get(id);
    if (open) {
      open.start = Math.min(open.start, request.startedAt);
      open.end = Math.max(open.end, end);
      open.requests += 1;
      open.reachedStore ||= reached;
      continue;
    }
    const window: UploadWindow = {
      key,
      client,
      kind: 'multipart',
      start: request.startedAt,
      end,
      requests: 1,
      reachedStore: reached,
    };
    windows.push(window);
    if (id !== null) multipart.set(id, window);
  }
  return windows;
}

/** Pairs of windows on one key that overlap in time (a strict overlap: one ending as the other starts is not). */
export function concurrentUploads(windows: readonly UploadWindow[]): Array<[UploadWindow, UploadWindow]> {
  const byKey = new Map<string, UploadWindow[]>();
  for (const w of windows) {
    const list = byKey.get(w.key);
    if (list) list.push(w);
    else byKey.set(w.key, [w]);
  }
  const pairs: Array<[UploadWindow, UploadWindow]> = [];
  for (const list of byKey.values()) {
    list.sort((a, b) => a.start - b.start);
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length && list[j]!.start < list[i]!.end; j++) pairs.push([list[i]!, list[j]!]);
    }
  }
  return pairs;
}

/** The object key of a path-style request: `/bucket/a/b?x` → `a/b` (decoded). */
export function objectKey(url: string): string {
  const { pathname } = new URL(url, 'http://proxy.invalid');
  const parts = pathname.split('/').filter((p) => p !== '');
  return decodeURIComponent(parts.slice(1).join('/'));
}
