import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { main, type CommandIo } from '../../src/agent/cli.js';
import { repoRoot } from './fixtures.js';

/** Run a CLI command in-process; returns its exit code and what it printed. */
export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CommandIo = { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

export interface CliProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/**
 * Set by `npm run coverage` (test/coverage/run.ts) to a directory: the sidecar processes spawned here write their
 * V8 coverage there (NODE_V8_COVERAGE), to be merged with vitest's. Not NODE_V8_COVERAGE itself, which would make
 * vitest's workers write theirs too.
 */
export const CHILD_COVERAGE_ENV = 'TEST_CHILD_V8_COVERAGE';

/** The real `pinot-sidecar` process (TypeScript through tsx), for signals and exit codes. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const coverageDir = process.env[CHILD_COVERAGE_ENV];
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/agent/cli.ts'), ...args], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...(coverageDir ? { NODE_V8_COVERAGE: coverageDir } : {}),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/**
 * Stops a `pinot-sidecar` process the way an orchestrator does: SIGTERM, then SIGKILL if it has not exited within
 * `graceMs`; resolves once it has exited. A graceful stop closes its ZooKeeper session, so its ephemeral nodes (the
 * fleet registry entry, upload locks) go at once: a SIGKILL leaves them for a whole session timeout, where the next
 * test's sidecar with the same --instance finds its registration "held by" the dead one.
 */
export async function stopCli(p: CliProcess, graceMs = 15_000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGCONT'); // a frozen process could not act on SIGTERM
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await p.exited;
  clearTimeout(timer);
}
