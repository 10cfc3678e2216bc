// What DeepStore.probe() checks and how it reports, pure. The probe answers "would a repair work now?"
// before one is needed: a bad bucket, missing credentials, a read-only mount or a wrong endpoint otherwise
// show up only when a segment has no deep-store copy, the worst moment to learn it.

import { randomBytes } from 'node:crypto';
import { DeepStoreError } from './errors.js';

/**
 * `write`: put a small object under a key of the sidecar's own, read it back and compare, delete it (what
 * repair needs: put and get). `read`: only look (for read-only credentials or a read-only mount, when the
 * operator wants the sidecar never to write unless a repair needs it).
 */
export type ProbeMode = 'write' | 'read';

/**
 * Which part of the probe failed. `folder`: the file store's base folder (missing, not a folder). `write`,
 * `read`, `delete`: the probe object's put, get and delete. `compare`: the store accepted the write but gave
 * back other bytes. `list`, `head`: the read probe's ListObjectsV2 / readdir and HeadObject.
 */
export type ProbeStep = 'folder' | 'write' | 'read' | 'compare' | 'delete' | 'list' | 'head';

export interface ProbeIssue {
  step: ProbeStep;
  /** Says what happened and, where the code tells, what to check; `code` and `retriable` as classified. */
  error: DeepStoreError;
}

/**
 * The probe's answer. A failing store is an answer, not an exception: probe() rejects only when its signal
 * aborts it (with `signal.reason`) or when called with a bad argument.
 *
 * `ok` with a `warning`: the store does what repair needs, but something else failed; today only a refused
 * delete of the probe object (a bucket policy or IAM role without s3:DeleteObject). The sidecar never deletes
 * anything in the deep store (repair puts and reads; orphans are left to the operator), so credentials without
 * delete are a sound least-privilege setup and not "down". The object left behind is one small object at a
 * key fixed by the probe's name, overwritten by every probe: it never accumulates.
 */
export type ProbeResult =
  | { ok: true; mode: ProbeMode; uri: string; warning?: ProbeIssue }
  | ({ ok: false; mode: ProbeMode; uri: string } & ProbeIssue);

/**
 * The S3 probe's folder, `<prefix>/.pinot-sidecar.probe/`: beside the table folders, never inside one. Two
 * dots, so that no Pinot table can own the name (TableConfigUtils.validateTableName; see TEMP_FOLDER in
 * file-store-temps.ts for the full reason). The file store probes inside its temp folder instead, the one
 * folder of its own it already has.
 */
export const PROBE_FOLDER = '.pinot-sidecar.probe';

/** The probe object's file-name suffix in the file store's temp folder (never `.part`: the sweep's). */
export const PROBE_FILE_SUFFIX = '.probe';

/** At most this many bytes of a read-back are read: a store lying with a huge body is not downloaded whole. */
export const PROBE_READ_LIMIT_BYTES = 4096;

const UNSAFE = /[^A-Za-z0-9_-]+/g;
const NAME_MAX_CHARS = 128;

/**
 * The probe object's name from the caller's (an instance id such as `Server_pinot-server-0_8098`): letters,
 * digits, `_` and `-` kept, every other run replaced by `_`, cut to 128 characters, so it is one safe path
 * segment and a key without escaping. Empty when nothing is left.
 */
export function probeObjectName(name: string): string {
  return name
    .replace(UNSAFE, '_')
    .slice(0, NAME_MAX_CHARS)
    .replace(/^_+|_+$/g, '');
}

/** A fresh probe body: a line a person finding the object can read, and random bytes no cache can have seen. */
export function probeBody(nowMs: number = Date.now()): Buffer {
  return Buffer.from(
    `pinot-sidecar deep-store probe ${new Date(nowMs).toISOString()} ${randomBytes(16).toString('hex')}\n`,
  );
}

/** The compare step's failure: the store said the write succeeded and then gave back other bytes. */
export function probeMismatch(
  uri: string,
  expected: Buffer,
  got: Buffer,
  read: { truncated: boolean },
): DeepStoreError {
  const size = read.truncated ? `more than ${got.length}` : String(got.length);
  return new DeepStoreError(
    `the deep store accepted the probe object ${uri} (${expected.length} bytes) but returned other bytes (${size}) when it was read back: ` +
      'it does not keep what it is given (a proxy or gateway answering for it, a cache, a misbehaving store); nothing uploaded there can be trusted',
    { code: 'ProbeMismatch', retriable: false },
  );
}

/** What a hint may name: the S3 endpoint or the file store's folder, the bucket. */
export interface ProbeTarget {
  /** `http://minio:9000`, or a description of the default AWS endpoint. */
  endpoint?: string;
  bucket?: string;
  folder?: string;
}

const S3_ACTION: Record<ProbeStep, string> = {
  folder: 's3:ListBucket',
  write: 's3:PutObject',
  read: 's3:GetObject',
  compare: 's3:GetObject',
  delete: 's3:DeleteObject',
  list: 's3:ListBucket',
  head: 's3:GetObject',
};

const FS_VERB: Record<ProbeStep, string> = {
  folder: 'read',
  write: 'write',
  read: 'read',
  compare: 'read',
  delete: 'delete files',
  list: 'list',
  head: 'read',
};

const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ETIMEDOUT',
  'ECONNRESET',
  'TimeoutError',
]);
const DENIED = new Set(['AccessDenied', 'Forbidden', 'AllAccessDisabled', 'AccountProblem']);
const WRONG_REGION = new Set(['AuthorizationHeaderMalformed', 'PermanentRedirect', 'InvalidRegion']);

/**
 * What an operator should check, from a classified error's code, or undefined when the error's own message
 * says it all (a full store, a missing folder). Pure; the table is what each code means for a deep store.
 */
export function probeHint(code: string, step: ProbeStep, target: ProbeTarget): string | undefined {
  const bucket = target.bucket === undefined ? 'the bucket' : `the bucket ${target.bucket}`;
  const folder = target.folder === undefined ? 'the deep-store folder' : `the deep-store folder ${target.folder}`;
  if (UNREACHABLE.has(code)) return `cannot reach ${target.endpoint ?? 'the store'}`;
  if (code === 'NoSuchBucket')
    return `${bucket} does not exist (a typo in the deep-store URI, or another account or region)`;
  if (DENIED.has(code))
    return `access denied: the credentials in use may not ${step} here (the bucket policy or IAM role needs ${S3_ACTION[step]} on ${bucket} and the prefix)`;
  if (code === 'InvalidAccessKeyId') return 'the access key id is unknown to the store (wrong or deleted credentials)';
  if (code === 'SignatureDoesNotMatch') return 'the secret key does not match the access key id';
  if (code === 'CredentialsProviderError')
    return 'no credentials found (environment, profile, web identity or instance role)';
  if (code === 'ExpiredToken' || code === 'ExpiredTokenException')
    return 'the session token has expired and was not refreshed';
  if (WRONG_REGION.has(code)) return `${bucket} is in another region than the one configured`;
  if (code === 'EROFS') return `${folder} is on a read-only file system: repair cannot upload there`;
  if (code === 'EACCES' || code === 'EPERM')
    return `permission denied: the sidecar's user may not ${FS_VERB[step]} in ${folder}`;
  return undefined;
}

/** `error` restated for an operator: the mode, the step, a hint from probeHint(), then the store's own words. */
export function probeFailure(
  mode: ProbeMode,
  step: ProbeStep,
  error: DeepStoreError,
  target: ProbeTarget,
): DeepStoreError {
  const hint = probeHint(error.code, step, target);
  return new DeepStoreError(
    `deep-store ${mode} probe failed at ${step}: ${hint === undefined ? '' : `${hint}: `}${error.message}`,
    {
      code: error.code,
      retriable: error.retriable,
      ...(error.httpStatus === undefined ? {} : { httpStatus: error.httpStatus }),
      ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
      cause: error,
    },
  );
}

/** The steps of one probe, as a store runs them (runProbe). */
export interface ProbeRun {
  /** Run `work` as `step`; a failure ends the probe with that step's issue (the store's error, classified). */
  step<T>(step: ProbeStep, work: () => Promise<T>): Promise<T>;
  /** Run `work` as `step`; a failure is returned as an issue (a warning), and the probe goes on. */
  tolerate(step: ProbeStep, work: () => Promise<unknown>): Promise<ProbeIssue | undefined>;
}

/** How one run of a probe sees its store. */
export interface ProbeContext {
  mode: ProbeMode;
  /** The probe object (write, and the head of a read probe), or the folder or prefix looked at. */
  uri: string;
  target: ProbeTarget;
  signal: AbortSignal | undefined;
  /** The store's own classification (classifyS3Error, classifyFsError); a DeepStoreError passes through. */
  classify(err: unknown, step: ProbeStep): DeepStoreError;
}

class StepFailed extends Error {
  constructor(readonly issue: ProbeIssue) {
    super(issue.error.message);
  }
}

/**
 * Run a store's probe `steps` and turn their outcome into a ProbeResult: the first step that fails is the
 * answer, with the store's error restated by probeFailure(); `steps` returns the warning, if any. An abort
 * rejects with `signal.reason`, whatever step it interrupted.
 */
export async function runProbe(
  context: ProbeContext,
  steps: (run: ProbeRun) => Promise<ProbeIssue | undefined>,
): Promise<ProbeResult> {
  const { mode, uri, target, signal } = context;
  signal?.throwIfAborted();
  const issue = (step: ProbeStep, err: unknown): ProbeIssue => {
    if (signal?.aborted) throw signal.reason;
    return { step, error: probeFailure(mode, step, context.classify(err, step), target) };
  };
  const run: ProbeRun = {
    async step(step, work) {
      try {
        return await work();
      } catch (err) {
        throw new StepFailed(issue(step, err));
      }
    },
    async tolerate(step, work) {
      try {
        await work();
        return undefined;
      } catch (err) {
        return issue(step, err);
      }
    },
  };
  try {
    const warning = await steps(run);
    signal?.throwIfAborted();
    return { ok: true, mode, uri, ...(warning === undefined ? {} : { warning }) };
  } catch (err) {
    if (err instanceof StepFailed) return { ok: false, mode, uri, ...err.issue };
    throw err;
  }
}
