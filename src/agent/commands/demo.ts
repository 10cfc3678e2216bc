import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createDeepStore } from '../../deepstore/index.js';
import { ZkSession } from '../../helix/index.js';
import { createLogger } from '../../log.js';
import type { CommandIo } from '../cli.js';
import { deepStoreOptions, parseServeConfig } from '../config.js';
import { DEMO_CLUSTER, DEMO_INSTANCE, DEMO_SEGMENTS, seedDemoCluster } from '../demo/demo-cluster.js';
import { ZOOKEEPER_JAR, ZooKeeperServer } from '../demo/local-zookeeper.js';
import type { RepairStatusSegment } from '../repair/index.js';
import { Sidecar } from '../sidecar.js';

const HELP = `Usage: pinot-sidecar demo [--once] [--dir .demo] [--port 9700] [--deep-store URI]

Runs the whole thing locally: starts Debian's ZooKeeper, seeds a small Pinot cluster (two realtime
tables, one pauseless; segments committed without a deep-store copy, a stuck COMMITTING segment, a
replica in ERROR), runs the sidecar with a file:// deep store under --dir, prints the repairs as they
complete and the curl lines to try. Ctrl-C stops everything. --once exits after the repairs.
Extra options are passed to the sidecar (e.g. --deep-store s3://bucket/prefix --s3-endpoint ...).`;

const FINISHED = new Set(['done', 'fixed_by_other', 'skipped', 'failed', 'gone']);

export async function runDemo(args: string[], io: CommandIo): Promise<number> {
  const { values, tokens } = parseArgs({
    args,
    options: {
      once: { type: 'boolean', default: false },
      dir: { type: 'string', default: '.demo' },
      port: { type: 'string', default: '9700' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: false,
    tokens: true,
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  if (!ensureZooKeeper(io)) return 1;

  const dir = path.resolve(String(values.dir));
  await rm(dir, { recursive: true, force: true });
  const dataDir = path.join(dir, 'data');
  await mkdir(dataDir, { recursive: true });
  await mkdir(path.join(dir, 'deepstore'), { recursive: true });
  const passThrough = passThroughArgs(tokens);

  io.stdout(`Starting ZooKeeper (Debian's package) under ${path.join(dir, 'zookeeper')} ...\n`);
  const zk = await ZooKeeperServer.start({ dir: path.join(dir, 'zookeeper') });
  const killZk = () => zk.killNow();
  process.once('exit', killZk);
  let sidecar: Sidecar | undefined;
  const stopAll = async () => {
    await sidecar?.shutdown(5_000);
    await zk.stop();
    process.off('exit', killZk);
  };
  try {
    const config = parseServeConfig(
      [
        '--zk',
        zk.connectString,
        '--cluster',
        DEMO_CLUSTER,
        '--instance',
        DEMO_INSTANCE,
        '--data-dir',
        dataDir,
        '--deep-store',
        pathToFileURL(path.join(dir, 'deepstore')).href,
        '--port',
        String(values.port),
        '--host',
        '127.0.0.1',
        '--repair-interval-seconds',
        '600',
        ...passThrough,
      ],
      {},
    );
    const deepStore = createDeepStore(config.deepStore!, deepStoreOptions(config, io.env));
    const seeding = new ZkSession({ connectString: zk.connectString });
    await seeding.waitConnected();
    io.stdout(`Seeding Pinot cluster "${DEMO_CLUSTER}" with server ${DEMO_INSTANCE}:\n`);
    await seedDemoCluster(seeding, dataDir, deepStore);
    await seeding.close();
    await deepStore.close();
    for (const s of DEMO_SEGMENTS)
      io.stdout(`  ${s.table.padEnd(16)} ${s.segment.padEnd(30)} ${s.state.padEnd(9)} ${s.note}\n`);

    const logFile = path.join(dir, 'sidecar.log');
    sidecar = await Sidecar.start(config, { logger: createLogger({ level: 'info', file: logFile }) });
    io.stdout(`\npinot-sidecar listening on http://127.0.0.1:${sidecar.port} (JSON logs: ${logFile})\n`);
    await sidecar.waitReady(30_000);
    const reconciler = sidecar.parts.reconciler!;
    await reportRepairs(io, () => reconciler.status().segments, 60_000);

    // --once stops right here: lines to try against a sidecar that is gone would only mislead.
    if (values.once) {
      await stopAll();
      io.stdout('\nDemo done (--once): everything stopped.\n');
      return 0;
    }
    const base = `http://127.0.0.1:${sidecar.port}`;
    const example = DEMO_SEGMENTS.find((s) => s.zk.downloadUrl === '')!;
    // The archive goes into the demo's own folder, never the current directory (the repository, under npm run demo).
    const archive = path.join(dir, `${example.segment}.tar.gz`);
    io.stdout(
      [
        '',
        'Try it:',
        `  curl -s ${base}/tables/clicks/segments/${example.segment} -o ${archive} && tar tzvf ${archive}`,
        `  curl -s ${base}/repair/status`,
        `  curl -s ${base}/metrics | grep '^pinot_sidecar_' | grep -v '_bucket'`,
        `  curl -s ${base}/tables/clicks/pauselessDebugInfo`,
        `  npx pinot-sidecar status --url ${base}`,
        `  ls -l ${path.join(dir, 'deepstore')}/*`,
        '',
      ].join('\n'),
    );
    io.stdout('Running. Press Ctrl-C to stop everything.\n');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    io.stdout('\nStopping ...\n');
    await stopAll();
    io.stdout('Stopped: no process left behind.\n');
    return 0;
  } catch (err) {
    await stopAll().catch(() => {});
    throw err;
  }
}

type ArgToken = NonNullable<ReturnType<typeof parseArgs>['tokens']>[number];

/**
 * Options the demo does not know go to the sidecar unchanged. Parsed loosely, `--deep-store s3://b`
 * arrives as a flag and a positional: the demo takes no positionals, so a positional is the value of
 * the option before it.
 */
export function passThroughArgs(tokens: readonly ArgToken[]): string[] {
  const own = new Set(['once', 'dir', 'port', 'help']);
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind !== 'option' || own.has(t.name)) continue;
    out.push(t.rawName);
    if (t.value !== undefined) out.push(t.value);
    else if (tokens[i + 1]?.kind === 'positional') out.push((tokens[++i] as { value: string }).value);
  }
  return out;
}

/** Print each repair as it finishes; return once nothing is pending, uploading or retrying. */
async function reportRepairs(io: CommandIo, entries: () => RepairStatusSegment[], timeoutMs: number): Promise<void> {
  const printed = new Set<string>();
  const deadline = Date.now() + timeoutMs;
  const expected = DEMO_SEGMENTS.filter((s) => s.zk.downloadUrl === '').length;
  io.stdout('\nRepairs:\n');
  for (;;) {
    const all = entries();
    for (const e of all) {
      const key = `${e.table}/${e.segment}`;
      if (printed.has(key) || !FINISHED.has(e.state)) continue;
      printed.add(key);
      const what =
        e.state === 'done' ? `uploaded, URL set -> ${e.uri}` : `${e.state}${e.reason ? ` (${e.reason})` : ''}`;
      io.stdout(`  ${e.state === 'done' ? 'repaired' : 'reported'} ${key}: ${what}\n`);
    }
    const done = all.filter((e) => e.state === 'done').length;
    const active = all.some((e) => !FINISHED.has(e.state));
    if ((done >= expected && !active) || Date.now() > deadline) {
      io.stdout(`  ${done} of ${expected} segments without a deep-store copy repaired.\n`);
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Debian's zookeeper package: installed on demand when running as root, else the exact command. */
function ensureZooKeeper(io: CommandIo): boolean {
  if (existsSync(ZOOKEEPER_JAR)) return true;
  if (process.getuid?.() !== 0) {
    io.stderr(
      "ZooKeeper is not installed. Install Debian's package, then run the demo again:\n  sudo apt-get update && sudo apt-get install -y zookeeper\n",
    );
    return false;
  }
  io.stdout("ZooKeeper is not installed: installing Debian's zookeeper package (running as root) ...\n");
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const cmd of [
    ['apt-get', 'update', '-qq'],
    ['apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'zookeeper'],
  ]) {
    const r = spawnSync(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'inherit', 'inherit'], env });
    if (r.status !== 0) {
      io.stderr(`"${cmd.join(' ')}" failed (exit ${r.status}); install zookeeper by hand and run the demo again.\n`);
      return false;
    }
  }
  return existsSync(ZOOKEEPER_JAR);
}
