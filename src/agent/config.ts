import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { SidecarError } from '../errors.js';
import { DEFAULT_MAX_RECORD_BYTES } from '../helix/index.js';
import { defaultCompressionThreads } from '../segments/index.js';
import { DEEP_STORE_OPTIONS, deepStoreProblems, deepStoreSchema } from './deep-store-config.js';
import { TLS_AND_TOKEN_OPTIONS, tlsAndTokenProblems, tlsAndTokenSchema } from './tls-config.js';
import { bool, intIn, type OptionSpec } from './option-spec.js';
import { DEFAULT_DOWNLOAD_IDLE_TIMEOUT_MS } from './http/stalled-reader.js';
import { DEFAULT_SIDECAR_ROOT } from './repair/upload-lock.js';

const MIB = 1024 * 1024;

export { bool, intIn, type OptionSpec } from './option-spec.js';
export { DEFAULT_S3_REGION, deepStoreOptions } from './deep-store-config.js';

const cpus = availableParallelism();

/**
 * `pinot-sidecar serve` options (README.md, "Configuration (`serve`)"). Every option is a flag and an
 * environment variable; a flag wins. Invalid configuration fails before anything listens, with one line per
 * problem naming the flag and the variable.
 */
export const SERVE_OPTIONS = {
  zk: {
    flag: 'zk',
    env: 'PINOT_SIDECAR_ZK',
    type: 'string',
    help: "ZooKeeper connect string host:port[,host:port][/chroot] (Pinot's zkAddress)",
  },
  cluster: {
    flag: 'cluster',
    env: 'PINOT_SIDECAR_CLUSTER',
    type: 'string',
    help: 'Helix cluster name (pinot.cluster.name)',
  },
  instance: {
    flag: 'instance',
    env: 'PINOT_SIDECAR_INSTANCE',
    type: 'string',
    help: 'Helix instance id of the Pinot server beside this sidecar, e.g. Server_pinot-server-0_8098',
  },
  dataDir: {
    flag: 'data-dir',
    env: 'PINOT_SIDECAR_DATA_DIR',
    type: 'string',
    help: "The server's dataDir: <dataDir>/<tableNameWithType>/<segment>/ (mounted read-only)",
  },
  tierDataDirs: {
    flag: 'tier-data-dir',
    env: 'PINOT_SIDECAR_TIER_DATA_DIRS',
    type: 'string',
    help: "A storage tier's dataDir (pinot.server.instance.tierConfigs.<tier>.dataDir): <tierDataDir>/<tableNameWithType>/<segment>/, searched after --data-dir. Repeatable; the variable is a colon-separated list",
    repeatable: { envSeparator: ':' },
  },
  deepStore: {
    flag: 'deep-store',
    env: 'PINOT_SIDECAR_DEEP_STORE',
    type: 'string',
    help: "Deep store URI, equal to the controller's controller.data.dir: s3://bucket/prefix, gs://bucket/prefix, adl2://fileSystem/prefix or file:///path. Without it, repair is off",
  },
  deepStoreProbe: {
    flag: 'deep-store-probe',
    env: 'PINOT_SIDECAR_DEEP_STORE_PROBE',
    type: 'string',
    help: 'How the deep store is checked at start and every minute: write (write, read back and delete a small object under .pinot-sidecar.probe/), read (list and read only), or off',
    default: 'write',
  },
  ...DEEP_STORE_OPTIONS,
  port: { flag: 'port', env: 'PINOT_SIDECAR_PORT', type: 'string', help: 'HTTP port', default: '9700' },
  host: { flag: 'host', env: 'PINOT_SIDECAR_HOST', type: 'string', help: 'HTTP bind address', default: '0.0.0.0' },
  advertiseUrl: {
    flag: 'advertise-url',
    env: 'PINOT_SIDECAR_ADVERTISE_URL',
    type: 'string',
    help: "URL registered for the fleet view (default: http://<the instance config's HELIX_HOST>:<--port>)",
  },
  zone: {
    flag: 'zone',
    env: 'PINOT_SIDECAR_ZONE',
    type: 'string',
    help: "Availability zone or failure domain of this server, shown by `fleet status`; default: the failure domain the drain gate reads from the server's instance config",
  },
  tokenFile: {
    flag: 'token-file',
    env: 'PINOT_SIDECAR_TOKEN_FILE',
    type: 'string',
    help: 'File holding a token granting downloads and admin actions, required on every request but /health/*, /metrics',
  },
  ...TLS_AND_TOKEN_OPTIONS,
  authHealth: {
    flag: 'auth-health',
    env: 'PINOT_SIDECAR_AUTH_HEALTH',
    type: 'boolean',
    help: 'Also require the token on /health/* and /metrics',
  },
  maxDownloads: {
    flag: 'max-downloads',
    env: 'PINOT_SIDECAR_MAX_DOWNLOADS',
    type: 'string',
    help: 'Segment downloads streamed at once',
    default: String(2 * cpus),
  },
  downloadQueue: {
    flag: 'download-queue',
    env: 'PINOT_SIDECAR_DOWNLOAD_QUEUE',
    type: 'string',
    help: 'Downloads waiting for a slot before 503 Busy',
    default: String(2 * cpus),
  },
  downloadIdleTimeoutS: {
    flag: 'download-idle-timeout-seconds',
    env: 'PINOT_SIDECAR_DOWNLOAD_IDLE_TIMEOUT_SECONDS',
    type: 'string',
    help: 'End a download whose reader takes no bytes for this long, freeing its slot',
    default: String(DEFAULT_DOWNLOAD_IDLE_TIMEOUT_MS / 1000),
  },
  serveErrorReplicas: {
    flag: 'serve-error-replicas',
    env: 'PINOT_SIDECAR_SERVE_ERROR_REPLICAS',
    type: 'boolean',
    help: 'Also serve segments whose replica on this server is in ERROR or OFFLINE (Pinot serves only what it loaded)',
  },
  gzipLevel: {
    flag: 'gzip-level',
    env: 'PINOT_SIDECAR_GZIP_LEVEL',
    type: 'string',
    help: 'gzip level of served and uploaded archives (1 = fastest)',
    default: '1',
  },
  compressionThreads: {
    flag: 'compression-threads',
    env: 'PINOT_SIDECAR_COMPRESSION_THREADS',
    type: 'string',
    help: 'Threads compressing archives, shared by every download and upload (still one gzip member)',
    default: String(defaultCompressionThreads()),
  },
  zkSessionTimeoutMs: {
    flag: 'zk-session-timeout-ms',
    env: 'PINOT_SIDECAR_ZK_SESSION_TIMEOUT_MS',
    type: 'string',
    help: 'ZooKeeper session timeout',
    default: '30000',
  },
  zkMaxRecordMib: {
    flag: 'zk-max-record-mib',
    env: 'PINOT_SIDECAR_ZK_MAX_RECORD_MIB',
    type: 'string',
    help: 'Largest ZooKeeper record read, in MiB once inflated; a larger one (a gzip bomb) is skipped with one log line',
    default: String(DEFAULT_MAX_RECORD_BYTES / MIB),
  },
  repairParallelism: {
    flag: 'repair-parallelism',
    env: 'PINOT_SIDECAR_REPAIR_PARALLELISM',
    type: 'string',
    help: 'Segments uploaded at once',
    default: '2',
  },
  repairIntervalS: {
    flag: 'repair-interval-seconds',
    env: 'PINOT_SIDECAR_REPAIR_INTERVAL_SECONDS',
    type: 'string',
    help: 'Safety pass over every hosted segment, besides the watch-driven repairs',
    default: '600',
  },
  lockRoot: {
    flag: 'lock-root',
    env: 'PINOT_SIDECAR_LOCK_ROOT',
    type: 'string',
    help: "ZooKeeper root of the sidecar's own upload locks (never inside the Pinot cluster)",
    default: DEFAULT_SIDECAR_ROOT,
  },
  failureDomainTag: {
    flag: 'failure-domain-tag',
    env: 'PINOT_SIDECAR_FAILURE_DOMAIN_TAG',
    type: 'string',
    help: "Drain gate: a server's failure domain is its TAG_LIST entry with this prefix (the rest of the tag). Without it: the instance config's environment.failureDomain, else its pool, else the server itself",
  },
  shutdownGraceS: {
    flag: 'shutdown-grace-seconds',
    env: 'PINOT_SIDECAR_SHUTDOWN_GRACE_SECONDS',
    type: 'string',
    help: 'How long in-flight downloads may drain after SIGTERM',
    default: '25',
  },
  tmpDir: {
    flag: 'tmp-dir',
    env: 'PINOT_SIDECAR_TMP_DIR',
    type: 'string',
    help: 'Scratch directory (the only place the sidecar writes locally)',
  },
  logLevel: {
    flag: 'log-level',
    env: 'PINOT_SIDECAR_LOG_LEVEL',
    type: 'string',
    help: 'fatal, error, warn, info, debug or trace',
    default: 'info',
  },
} as const satisfies Record<string, OptionSpec>;

export const serveSchema = deepStoreSchema.extend({
  ...tlsAndTokenSchema.shape,
  zk: z.string().regex(/^[^\s/,]+(,[^\s/,]+)*(\/\S*)?$/, 'expected host:port[,host:port][/chroot]'),
  cluster: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'expected a Helix cluster name ([A-Za-z0-9_.-]+)'),
  instance: z.string().regex(/^[^\s/]+$/, 'expected a Helix instance id without spaces or slashes'),
  dataDir: z.string().min(1),
  tierDataDirs: z
    .array(
      z
        .string()
        .min(1, 'an empty directory name (an empty flag, or two colons in a row or one at an end of the variable)'),
    )
    .default([]),
  deepStore: z
    .string()
    .regex(
      /^(s3a?|gs|adl2|file):/i,
      'expected s3://bucket/prefix, gs://bucket/prefix, adl2://fileSystem/prefix or file:///path',
    )
    .optional(),
  port: intIn(0, 65535),
  host: z.string().min(1),
  advertiseUrl: z
    .string()
    .regex(/^https?:\/\/[^\s/]+\/?$/, 'expected http(s)://host:port, without a path')
    .optional(),
  zone: z
    .string()
    .regex(/^\S{1,128}$/, 'expected a zone name without spaces')
    .optional(),
  tokenFile: z.string().min(1).optional(),
  authHealth: bool.default(false),
  serveErrorReplicas: bool.default(false),
  deepStoreProbe: z.enum(['write', 'read', 'off']),
  maxDownloads: intIn(1, 1024),
  downloadQueue: intIn(0, 10_000),
  downloadIdleTimeoutS: intIn(1, 86_400),
  gzipLevel: intIn(0, 9),
  compressionThreads: intIn(1, 256),
  zkSessionTimeoutMs: intIn(1_000, 120_000),
  zkMaxRecordMib: intIn(1, 4096),
  repairParallelism: intIn(1, 64),
  repairIntervalS: intIn(1, 86_400),
  lockRoot: z.string().regex(/^\/[^\s]*[^/\s]$|^\/$/, 'expected an absolute ZooKeeper path'),
  failureDomainTag: z.string().min(1).optional(),
  shutdownGraceS: intIn(0, 3_600),
  tmpDir: z.string().min(1).optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
});

export type ServeConfig = z.infer<typeof serveSchema>;

export class ConfigError extends SidecarError {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
}

/** Flags (argv after `serve`) over environment variables over defaults; throws ConfigError listing every problem. */
export function parseServeConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ServeConfig {
  const { data, problems } = readOptions(SERVE_OPTIONS, serveSchema, argv, env);
  if (data) problems.push(...deepStoreProblems(data));
  if (data) problems.push(...tierDataDirProblems(data));
  if (data) problems.push(...tlsAndTokenProblems(data));
  if (problems.length > 0 || !data) throw new ConfigError(problems);
  return data;
}

/** A tier data dir named twice, or equal to the data dir, is a typo: segments there would be looked for twice. */
function tierDataDirProblems({ dataDir, tierDataDirs }: Pick<ServeConfig, 'dataDir' | 'tierDataDirs'>): string[] {
  const option = optionName(SERVE_OPTIONS.tierDataDirs);
  const seen = new Set([path.resolve(dataDir)]);
  const problems: string[] = [];
  for (const dir of tierDataDirs) {
    if (seen.has(path.resolve(dir))) problems.push(`${option}: ${dir} is listed twice or is the --data-dir`);
    seen.add(path.resolve(dir));
  }
  return problems;
}

export interface ReadOptionsResult<T> {
  /** Undefined when the values do not satisfy the schema (then `problems` says why). */
  data: T | undefined;
  positionals: string[];
  /** One line per problem, naming the flag and its variable. */
  problems: string[];
}

/**
 * The option-table reader every command shares: flags over environment variables over defaults, validated by
 * `schema` whose keys are the table's keys. Problems are collected, not thrown, so a command can add its own.
 */
export function readOptions<T>(
  specs: Record<string, OptionSpec>,
  schema: z.ZodType<T>,
  argv: string[],
  env: NodeJS.ProcessEnv,
  options: { allowPositionals?: boolean } = {},
): ReadOptionsResult<T> {
  const problems: string[] = [];
  let flags: Record<string, string | boolean | Array<string | boolean> | undefined> = {};
  let positionals: string[] = [];
  try {
    const parseOptions: Record<string, { type: 'string' | 'boolean'; multiple: boolean }> = {};
    for (const spec of Object.values(specs))
      parseOptions[spec.flag] = { type: spec.type, multiple: spec.repeatable !== undefined };
    const parsed = parseArgs({
      args: argv,
      options: parseOptions,
      strict: true,
      allowPositionals: options.allowPositionals ?? false,
    });
    flags = parsed.values;
    positionals = parsed.positionals;
  } catch (err) {
    problems.push((err as Error).message);
  }
  const raw: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(specs)) {
    const envValue = spec.env === undefined || env[spec.env] === '' ? undefined : env[spec.env];
    const fromEnv = spec.repeatable === undefined ? envValue : envValue?.split(spec.repeatable.envSeparator);
    const value = flags[spec.flag] ?? fromEnv ?? spec.default;
    if (value !== undefined) raw[key] = value;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0]);
      const spec = specs[key];
      const missing = raw[key] === undefined;
      problems.push(spec ? `${optionName(spec)}: ${missing ? 'required' : issue.message}` : issue.message);
    }
  }
  return { data: parsed.success ? parsed.data : undefined, positionals, problems };
}

/** `--flag (ENV_VAR)`, or `--flag` for an option without a variable. */
export function optionName(spec: OptionSpec): string {
  return spec.env === undefined ? `--${spec.flag}` : `--${spec.flag} (${spec.env})`;
}

/** Help text generated from the option table, so it never drifts from what is parsed. */
export function serveUsage(): string {
  return optionsUsage('Usage: pinot-sidecar serve [options]', SERVE_OPTIONS);
}

/** `heading`, then one entry per option: flag, variable, default, and its help on the next line. */
export function optionsUsage(heading: string, specs: Record<string, OptionSpec>): string {
  const lines = [heading, '', 'Options (flag / environment variable / default):'];
  for (const spec of Object.values(specs)) {
    const arg = spec.type === 'string' ? ' <value>' : '';
    lines.push(
      `  --${spec.flag}${arg}`.padEnd(36) +
        `${spec.env ?? '-'}${spec.default !== undefined ? ` (default ${spec.default})` : ''}`,
    );
    lines.push(`      ${spec.help}`);
  }
  return lines.join('\n');
}
