#!/usr/bin/env node
// `pinot-sidecar <command>` (README.md, "CLI"). Each command is a function from arguments to
// an exit code, so tests run them in-process; only this file touches process.exit.

import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../errors.js';
import { runCrc } from './commands/crc.js';
import { runFetch } from './commands/fetch.js';
import { runFleet } from './commands/fleet.js';
import { runDemo } from './commands/demo.js';
import { runDrainCheck } from './commands/drain-check.js';
import { runServe } from './commands/serve.js';
import { runStatus } from './commands/status.js';
import { version } from './version.js';

export { version } from './version.js';

export interface CommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** True when stderr is a terminal (progress lines are drawn only then). */
  stderrIsTTY?: boolean;
}

type Command = (args: string[], io: CommandIo) => Promise<number>;

const COMMANDS: Record<string, { run: Command; summary: string }> = {
  serve: { run: runServe, summary: 'run the sidecar (segment downloads, deep-store repair, metrics)' },
  status: { run: runStatus, summary: "show the sidecar's deep-store repair state (exit 1 when a segment failed)" },
  demo: {
    run: runDemo,
    summary: 'run everything locally: ZooKeeper, a seeded Pinot cluster, the sidecar repairing it',
  },
  fetch: {
    run: runFetch,
    summary:
      "download a segment like a Pinot server does (deep store, else ONLINE peers), verified against ZooKeeper's CRC",
  },
  'drain-check': {
    run: runDrainCheck,
    summary: 'is it safe to take this server (or --domain) down? exit 0 safe, 1 unsafe, 2 cannot tell; --wait polls',
  },
  fleet: {
    run: runFleet,
    summary: 'fleet status: every registered sidecar of a cluster in one table (exit 1 when one is unreachable)',
  },
  crc: { run: runCrc, summary: "recompute Pinot's CRC of a segment dir or tarball and compare it with creation.meta" },
};

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length)) + 2;
  return [
    'Usage: pinot-sidecar <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`),
    '',
    'Run `pinot-sidecar <command> --help` for the options of a command; `pinot-sidecar --version` for the version.',
  ].join('\n');
}

export async function main(argv: string[], io: CommandIo): Promise<number> {
  const [name, ...args] = argv;
  if (name === '--version' || name === '-V' || name === 'version') {
    io.stdout(`pinot-sidecar ${version()}\n`);
    return 0;
  }
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    io.stdout(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr(`pinot-sidecar: unknown command "${name}"\n\n${usage()}\n`);
    return 2;
  }
  try {
    return await command.run(args, io);
  } catch (err) {
    io.stderr(`pinot-sidecar ${name}: ${errorMessage(err)}\n`);
    return 2;
  }
}

function isEntryPoint(): boolean {
  try {
    return (
      process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))
    );
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  // The AWS SDK warns on every start that Node 20 support ends; operators cannot act on it here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const code = await main(process.argv.slice(2), {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
    stderrIsTTY: process.stderr.isTTY === true,
  });
  // serve keeps the process alive until its shutdown sets the exit code.
  if (code >= 0) process.exitCode = code;
}
