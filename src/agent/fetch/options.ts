import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import {
  bool,
  ConfigError,
  intIn,
  optionName,
  optionsUsage,
  readOptions,
  SERVE_OPTIONS,
  serveSchema,
  type OptionSpec,
} from '../config.js';
import { DEEP_STORE_OPTIONS, deepStoreProblems, deepStoreSchema } from '../deep-store-config.js';
import { CLIENT_TLS_OPTIONS, clientTlsProblems, clientTlsSchema } from '../client-tls.js';

/**
 * `pinot-sidecar fetch` options: the table-driven reader serve uses (config.ts), with serve's own entries for
 * what both commands share (ZooKeeper, cluster, token file, the deep stores' options), so the same environment
 * variables work.
 */
export const FETCH_OPTIONS = {
  zk: SERVE_OPTIONS.zk,
  cluster: SERVE_OPTIONS.cluster,
  out: {
    flag: 'out',
    type: 'string',
    help: 'Folder to write the segment into, as <out>/<segment>/ (created if missing)',
  },
  peerPort: {
    flag: 'peer-port',
    type: 'string',
    help: "Port of the peers' sidecars, tried before each server's adminPort",
    default: '9700',
  },
  peerScheme: {
    flag: 'peer-scheme',
    type: 'string',
    help:
      "http or https (https: the sidecars' TLS port and the servers' adminHttpsPort; " +
      "like the table's peerSegmentDownloadScheme)",
    default: 'http',
  },
  ...CLIENT_TLS_OPTIONS,
  tokenFile: {
    ...SERVE_OPTIONS.tokenFile,
    help: "File holding the bearer token the peers' sidecars require (sent to sidecars only)",
  },
  attempts: {
    flag: 'attempts',
    type: 'string',
    help: 'Attempts over all sources (PeerServerSegmentFinder: 5)',
    default: '5',
  },
  retryDelayMs: {
    flag: 'retry-delay-ms',
    type: 'string',
    help: 'Wait after the first failed attempt in ms, doubling each time, jittered in [d, 2d)',
    default: '500',
  },
  ...DEEP_STORE_OPTIONS,
  force: { flag: 'force', type: 'boolean', help: 'Replace an existing <out>/<segment>' },
  json: { flag: 'json', type: 'boolean', help: 'Print the result (or the failures) as JSON on stdout' },
} as const satisfies Record<string, OptionSpec>;

const fetchSchema = deepStoreSchema.extend({
  ...clientTlsSchema.shape,
  zk: serveSchema.shape.zk,
  cluster: serveSchema.shape.cluster,
  out: z.string().min(1),
  peerPort: intIn(1, 65535),
  peerScheme: z.enum(['http', 'https']),
  tokenFile: serveSchema.shape.tokenFile,
  attempts: intIn(1, 100),
  retryDelayMs: intIn(0, 600_000),
  force: bool.default(false),
  json: bool.default(false),
});

export type FetchConfig = z.infer<typeof fetchSchema>;

export interface FetchArgs {
  table: string;
  segment: string;
  config: FetchConfig;
}

/** Throws ConfigError listing every problem (missing names, bad values, unknown flags). */
export function parseFetchArgs(argv: string[], env: NodeJS.ProcessEnv): FetchArgs {
  const { data, positionals, problems } = readOptions(FETCH_OPTIONS, fetchSchema, argv, env, {
    allowPositionals: true,
  });
  if (positionals.length !== 2)
    problems.unshift(
      `expected <tableNameWithType> <segment>, got ${positionals.length} argument${positionals.length === 1 ? '' : 's'}`,
    );
  // fetch reads whatever store the URI in ZooKeeper names: options of every store may be given together.
  if (data !== undefined) problems.push(...deepStoreProblems(data, { anyStore: true }));
  if (data !== undefined) problems.push(...clientTlsProblems(data));
  if (problems.length > 0 || data === undefined) throw new ConfigError(problems);
  return { table: positionals[0]!, segment: positionals[1]!, config: data };
}

/** The token for peer sidecars: one word, whitespace around it ignored (files often end with a newline). */
export async function readPeerToken(file: string): Promise<string> {
  const name = optionName(FETCH_OPTIONS.tokenFile);
  const text = await readFile(file, 'utf8').catch((err: unknown) => {
    throw new ConfigError([`${name}: cannot read ${file}: ${(err as Error).message}`]);
  });
  const token = text.trim();
  if (!/^\S+$/.test(token)) throw new ConfigError([`${name}: ${file} must hold exactly one token`]);
  return token;
}

export function fetchUsage(): string {
  return optionsUsage(
    `Usage: pinot-sidecar fetch <tableNameWithType> <segment> --out DIR [options]

Downloads a segment the way a Pinot server does (PeerServerSegmentFinder): from the deep-store URI in its
ZooKeeper metadata (s3://, file:, http(s)://) first; when that is "" (peer download) or fails, from the
replicas ONLINE in the external view, shuffled, each through its sidecar (--peer-port) and then the
server's adminPort. Up to --attempts attempts, with exponential backoff. A source fails on HTTP >= 300, a
length that disagrees with Content-Length, a truncated or unsafe archive, or a creation.meta CRC that
disagrees with ZooKeeper's segment.crc; only a verified segment is moved to <out>/<segment>.

Exit code 0 when fetched, 1 when every source failed (each reason is listed), 2 for a usage or
configuration error.`,
    FETCH_OPTIONS,
  );
}
