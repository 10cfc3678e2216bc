import { ConfigError, parseServeConfig, serveUsage } from '../config.js';
import { Sidecar } from '../sidecar.js';
import type { CommandIo } from '../cli.js';

/**
 * `pinot-sidecar serve`: runs until SIGTERM/SIGINT. The first signal starts a graceful shutdown
 * (readiness false, downloads drain up to the grace period, uploads abort, ZooKeeper closes, exit 0);
 * a second signal, or the grace deadline passing, forces the exit.
 */
export async function runServe(args: string[], io: CommandIo): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout(`${serveUsage()}\n`);
    return 0;
  }
  let sidecar: Sidecar;
  try {
    const config = parseServeConfig(args, io.env);
    sidecar = await Sidecar.start(config);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr(`pinot-sidecar serve: invalid configuration\n${err.problems.map((p) => `  ${p}`).join('\n')}\n`);
      return 2;
    }
    throw err;
  }
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      io.stderr(`pinot-sidecar: second ${signal}, exiting now\n`);
      process.exit(1);
    }
    const graceMs = sidecar.parts.config.shutdownGraceS * 1000;
    // The grace period bounds the drain; the extra seconds bound closing ZooKeeper and the deep store.
    setTimeout(() => {
      io.stderr('pinot-sidecar: shutdown did not finish in time, exiting\n');
      process.exit(1);
    }, graceMs + 5_000).unref();
    void sidecar.shutdown(graceMs).then(() => process.exit(0));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // Running: the exit code is set by the signal handlers.
  return -1;
}
