import { errorMessage, SidecarError } from '../../errors.js';
import { ZkSession } from '../../helix/index.js';
import type { CommandIo } from '../cli.js';
import { readClientTls, type ClientTls } from '../client-tls.js';
import { ConfigError, deepStoreOptions } from '../config.js';
import { DeepStoreReader } from '../fetch/deep-store-reader.js';
import { AllSourcesFailedError, FetchError, type SourceFailure } from '../fetch/errors.js';
import { fetchUsage, parseFetchArgs, readPeerToken, type FetchArgs } from '../fetch/options.js';
import { fetchSegment, type FetchResult } from '../fetch/procedure.js';
import { formatBytes, ProgressLine } from '../fetch/progress.js';
import { PINOT_PEER_RETRY } from '../fetch/retry.js';

const ZK_CONNECT_TIMEOUT_MS = 15_000;
const PREFIX = 'pinot-sidecar fetch';

/**
 * `pinot-sidecar fetch <tableNameWithType> <segment> --out DIR`: the download procedure of src/agent/fetch as
 * a command. stdout gets one summary line (or JSON); stderr gets each failed source as it fails, the waits
 * between attempts, and on a terminal a progress line. Exit 0 fetched, 1 every source failed, 2 usage or
 * configuration. Ctrl-C stops the download and removes what was written.
 */
export async function runFetch(args: string[], io: CommandIo): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout(`${fetchUsage()}\n`);
    return 0;
  }
  let parsed: FetchArgs;
  let token: string | undefined;
  let tls: ClientTls;
  try {
    parsed = parseFetchArgs(args, io.env);
    token = parsed.config.tokenFile === undefined ? undefined : await readPeerToken(parsed.config.tokenFile);
    tls = await readClientTls(parsed.config);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.stderr(
      `${PREFIX}: invalid arguments\n${err.problems.map((p) => `  ${p}`).join('\n')}\nRun \`pinot-sidecar fetch --help\` for the options.\n`,
    );
    return 2;
  }
  const { config, table, segment } = parsed;
  const session = new ZkSession({ connectString: config.zk, sessionTimeoutMs: 30_000 });
  let deepStore: DeepStoreReader;
  try {
    deepStore = new DeepStoreReader(deepStoreOptions(config, io.env));
  } catch (err) {
    io.stderr(`${PREFIX}: invalid arguments\n  ${(err as Error).message}\n`);
    return 2;
  }
  const interrupt = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void =>
    interrupt.abort(new FetchError(`interrupted by ${signal}; nothing was written`));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    try {
      await session.waitConnected(ZK_CONNECT_TIMEOUT_MS);
    } catch (err) {
      io.stderr(`${PREFIX}: cannot connect to ZooKeeper ${config.zk}: ${errorMessage(err)}\n`);
      return 2;
    }
    const result = await fetchSegment(
      { table, segment, outDir: config.out, force: config.force },
      {
        session,
        cluster: config.cluster,
        peer: {
          scheme: config.peerScheme,
          sidecarPort: config.peerPort,
          ...(token === undefined ? {} : { token }),
          tls,
        },
        deepStore,
        retry: { ...PINOT_PEER_RETRY, attempts: config.attempts, initialDelayMs: config.retryDelayMs },
        progress: new ProgressLine({ write: io.stderr, enabled: io.stderrIsTTY === true && !config.json }),
        signal: interrupt.signal,
        ...(config.json
          ? {}
          : {
              onFailure: (f: SourceFailure) => io.stderr(`${PREFIX}: ${formatFailure(f)}\n`),
              onRetry: (next: number, ms: number) =>
                io.stderr(`${PREFIX}: attempt ${next} of ${config.attempts} in ${(ms / 1000).toFixed(1)} s\n`),
            }),
      },
    );
    io.stdout(config.json ? `${JSON.stringify({ ok: true, ...result }, null, 2)}\n` : `${formatSuccess(result)}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof SidecarError)) throw err;
    const usage = err instanceof FetchError && err.usage;
    if (config.json) {
      const failures = err instanceof AllSourcesFailedError ? err.failures : [];
      io.stdout(`${JSON.stringify({ ok: false, table, segment, error: err.message, failures }, null, 2)}\n`);
    }
    const listed =
      err instanceof AllSourcesFailedError && !config.json ? ` (each source's reason is listed above)` : '';
    io.stderr(`${PREFIX}: ${err.message}${listed}\n`);
    return usage ? 2 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await deepStore.close();
    await session.close();
  }
}

export function formatFailure(f: SourceFailure): string {
  return `attempt ${f.attempt}: ${f.source}: ${f.reason}`;
}

export function formatSuccess(r: FetchResult): string {
  const crc =
    r.crcVia === 'crc'
      ? `CRC ${r.crc} matches ZooKeeper`
      : `CRC ${r.crc}, data CRC matches ZooKeeper (segment.use.data.crc)`;
  const tries = r.attempts === 1 ? '' : ` on attempt ${r.attempts}`;
  return `fetched ${r.segment} of ${r.table} from ${r.source.label}${tries}: ${r.bytes} bytes (${formatBytes(r.bytes)}), ${crc}, into ${r.dir}`;
}
