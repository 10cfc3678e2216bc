import { z } from 'zod';
import { errorMessage } from '../../errors.js';
import { ZkSession } from '../../helix/index.js';
import type { CommandIo } from '../cli.js';
import { bool, ConfigError, intIn, optionsUsage, readOptions, SERVE_OPTIONS, serveSchema } from '../config.js';
import { readPeerToken } from '../fetch/options.js';
import { askSidecars, readRegistry, type RegistryListing } from '../fleet/fleet-query.js';
import { fleetExitCode, fleetTotals, renderFleetFooter, renderFleetTable } from '../fleet/fleet-report.js';
import { askZoneDrain } from '../fleet/zone-drain-query.js';
import { combineZoneDrain, zoneDrainExitCode } from '../fleet/zone-drain.js';

/** `fleet status` options; ZooKeeper, cluster, root and token share serve's entries, so the same variables work. */
export const FLEET_STATUS_OPTIONS = {
  zk: SERVE_OPTIONS.zk,
  cluster: SERVE_OPTIONS.cluster,
  lockRoot: { ...SERVE_OPTIONS.lockRoot, help: "ZooKeeper root the sidecars register under (serve's --lock-root)" },
  tokenFile: { ...SERVE_OPTIONS.tokenFile, help: 'File holding the bearer token the sidecars require' },
  json: { flag: 'json', type: 'boolean', help: 'Print the results, totals and timing as JSON' },
  timeoutMs: {
    flag: 'timeout-ms',
    type: 'string',
    help: 'How long each sidecar has to answer; one that does not is listed as unreachable',
    default: '5000',
  },
  overallTimeoutMs: {
    flag: 'overall-timeout-ms',
    type: 'string',
    help: 'Deadline for the whole run: what has not answered by then is listed as unreachable (partial results)',
    default: '60000',
  },
  concurrency: {
    flag: 'concurrency',
    type: 'string',
    help: 'Sidecars asked at once (and registry entries read at once)',
    default: '64',
  },
} as const;

const fleetStatusSchema = z.object({
  zk: serveSchema.shape.zk,
  cluster: serveSchema.shape.cluster,
  lockRoot: serveSchema.shape.lockRoot,
  tokenFile: serveSchema.shape.tokenFile,
  json: bool.default(false),
  timeoutMs: intIn(1, 600_000),
  overallTimeoutMs: intIn(1, 3_600_000),
  concurrency: intIn(1, 4096),
});

const HELP = optionsUsage(
  `Usage: pinot-sidecar fleet status --zk ZK --cluster CLUSTER [options]

Lists every sidecar registered in ZooKeeper (<lock-root>/<cluster>/sidecars/<instance>, written by each serve),
asks each one for GET /fleet/summary in parallel, and prints one table: instance, zone, up/unreachable, hosted
segments, segments missing a deep-store copy, repairs pending/failed, downloads in flight, version; then the
totals and the time taken. Sidecars that do not answer are listed, never dropped.

Exit code 1 when any repair failed or any sidecar is unreachable (or none is registered), 2 when ZooKeeper
cannot be read or the options are wrong, 0 otherwise.`,
  FLEET_STATUS_OPTIONS,
);

export async function runFleet(args: string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h' || rest.includes('--help') || rest.includes('-h')) {
    io.stdout(`${HELP}\n`);
    return sub === undefined ? 2 : 0;
  }
  if (sub === 'drain-check') return runFleetDrainCheck(rest, io);
  if (sub !== 'status') {
    io.stderr(`pinot-sidecar fleet: unknown subcommand "${sub}" (expected: status, drain-check)\n`);
    return 2;
  }
  return runFleetStatus(rest, io);
}

/** `fleet drain-check --zone Z`: fleet status's options, plus the zone. */
export const FLEET_DRAIN_CHECK_OPTIONS = {
  ...FLEET_STATUS_OPTIONS,
  zone: {
    flag: 'zone',
    type: 'string',
    help: 'The failure domain (zone) to take down, as GET /drain/check?domain= names it',
  },
} as const;

const fleetDrainCheckSchema = fleetStatusSchema.extend({ zone: z.string().min(1) });

/**
 * Every registered sidecar assesses the loss of the zone for its own server; the answers are combined
 * (combineZoneDrain). Exit 0 safe, 1 unsafe, 2 cannot tell (a server of the zone silent or unsure, no server in the
 * zone, ZooKeeper unreadable): never "safe" when unsure.
 */
async function runFleetDrainCheck(args: string[], io: CommandIo): Promise<number> {
  const { data, problems } = readOptions(FLEET_DRAIN_CHECK_OPTIONS, fleetDrainCheckSchema, args, io.env);
  if (problems.length > 0 || data === undefined) throw new ConfigError(problems);
  const token = data.tokenFile === undefined ? undefined : await readPeerToken(data.tokenFile);
  const deadline = AbortSignal.timeout(data.overallTimeoutMs);
  const listing = await readRegistryFor(data, io, 'drain-check');
  if (listing === null) return 2;
  const answers = await askZoneDrain(listing.entries, data.zone, {
    timeoutMs: data.timeoutMs,
    concurrency: data.concurrency,
    signal: deadline,
    ...(token === undefined ? {} : { token }),
  });
  const result = combineZoneDrain(data.zone, answers);
  if (data.json) {
    io.stdout(`${JSON.stringify({ ...result, sidecars: answers, registry: listing.path }, null, 2)}\n`);
  } else {
    io.stdout(`${formatZoneDrain(result)}\n`);
  }
  return zoneDrainExitCode(result.verdict);
}

function formatZoneDrain(result: ReturnType<typeof combineZoneDrain>): string {
  const lines = [
    `zone ${result.zone}: ${result.verdict.toUpperCase().replace('_', ' ')} (servers: ${result.servers.join(', ') || 'none'})`,
  ];
  for (const r of result.atRisk)
    lines.push(`  at risk: ${r.instance} ${r.table}/${r.segment} ${r.reason}${r.detail ? ` (${r.detail})` : ''}`);
  for (const reason of result.reasons) lines.push(`  cannot tell: ${reason}`);
  return lines.join('\n');
}

async function runFleetStatus(args: string[], io: CommandIo): Promise<number> {
  const { data, problems } = readOptions(FLEET_STATUS_OPTIONS, fleetStatusSchema, args, io.env);
  if (problems.length > 0 || data === undefined) throw new ConfigError(problems);
  const token = data.tokenFile === undefined ? undefined : await readPeerToken(data.tokenFile);
  const started = performance.now();
  const deadline = AbortSignal.timeout(data.overallTimeoutMs);
  const listing = await readRegistryFor(data, io, 'status');
  if (listing === null) return 2;
  const results = await askSidecars(listing.entries, {
    timeoutMs: data.timeoutMs,
    concurrency: data.concurrency,
    signal: deadline,
    ...(token === undefined ? {} : { token }),
  });
  const elapsedMs = Math.round(performance.now() - started);
  const totals = fleetTotals(results);
  const timedOut = deadline.aborted;
  if (data.json) {
    const report = {
      registry: listing.path,
      sidecars: results,
      totals,
      vanished: listing.vanished,
      elapsedMs,
      timedOut,
    };
    io.stdout(`${JSON.stringify(report, null, 2)}\n`);
  } else if (results.length > 0) {
    io.stdout(
      `${renderFleetTable(results)}\n\n${renderFleetFooter(totals, { elapsedMs, timedOut, registry: listing.path })}\n`,
    );
  }
  if (results.length === 0) {
    io.stderr(
      `pinot-sidecar fleet status: no sidecar is registered under ${listing.path} (is --cluster right? --lock-root? ` +
        'are the sidecars running this version?)\n',
    );
    return 1;
  }
  return fleetExitCode(totals);
}

/**
 * The registry both fleet commands start from; null (after saying why on stderr) when ZooKeeper cannot be read,
 * which the commands turn into exit code 2.
 */
async function readRegistryFor(
  data: { zk: string; lockRoot: string; cluster: string; concurrency: number; overallTimeoutMs: number },
  io: CommandIo,
  command: string,
): Promise<RegistryListing | null> {
  const session = new ZkSession({ connectString: data.zk, sessionTimeoutMs: 10_000 });
  try {
    await session.waitConnected(Math.min(data.overallTimeoutMs, 15_000));
    return await readRegistry(session, {
      sidecarRoot: data.lockRoot,
      cluster: data.cluster,
      concurrency: data.concurrency,
    });
  } catch (err) {
    io.stderr(
      `pinot-sidecar fleet ${command}: cannot read the registry from ZooKeeper ${data.zk}: ${errorMessage(err)}\n`,
    );
    return null;
  } finally {
    await session.close();
  }
}
