import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { forget, remember } from './leftovers.js';

/**
 * One Java process of the cluster (ZooKeeper aside): PinotAdministrator's controller, broker, servers and Kafka.
 * Each is started as the leader of its own process group (so a stop reaches anything it forks, and a terminal's
 * Ctrl-C reaches the runner first, which then stops everything in order), with its output in a log file.
 */
export interface JavaServiceOptions {
  name: string;
  args: string[];
  logFile: string;
  cwd: string;
}

export class JavaService {
  private child: ChildProcess | undefined;
  private exitedPromise: Promise<void> = Promise.resolve();
  exitCode: number | null | undefined;

  constructor(readonly options: JavaServiceOptions) {}

  get name(): string {
    return this.options.name;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.exitCode === undefined;
  }

  start(): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    const fd = openSync(this.options.logFile, 'a');
    const child = spawn('java', this.options.args, {
      cwd: this.options.cwd,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    this.child = child;
    this.exitCode = undefined;
    const pid = child.pid;
    if (pid === undefined) throw new Error(`${this.name}: java did not start`);
    remember('group', pid);
    this.exitedPromise = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        forget('group', pid);
        resolve();
      }),
    );
  }

  /** The log so far (for assertions on what Pinot did, and for failure messages). */
  log(): string {
    try {
      return readFileSync(this.options.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  logTail(lines = 40): string {
    return this.log().split('\n').slice(-lines).join('\n');
  }

  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves when the process has exited. */
  async stop(graceMs = 15_000): Promise<void> {
    const pid = this.child?.pid;
    if (pid === undefined || !this.running) return;
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([
      this.exitedPromise.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
    ]);
    clearTimeout(timer);
    if (late) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
      await this.exitedPromise;
    }
  }
}
