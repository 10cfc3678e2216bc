// Watching the directories of secret files (certificates, tokens) for a rotation, shared by CertificateReloader and
// TokenFilesWatcher.

import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';

/**
 * Calls `onChange` once things settle after any change in the directories of `files`. A Kubernetes Secret volume
 * (cert-manager, a rotated token) is rewritten by swapping a `..data` symlink: the files never change in place, so
 * the directories are watched, not the files; `settleMs` lets a writer that touches several files be read once.
 */
export class SecretDirWatch {
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: {
      files: ReadonlyArray<string | undefined>;
      onChange: () => void;
      logger: Logger;
      /** Names what is watched in the error log line: `tls` or `token`. */
      what: string;
      settleMs?: number;
    },
  ) {}

  start(): void {
    const { files, logger, what } = this.options;
    const dirs = new Set(files.filter((f) => f !== undefined).map((f) => path.dirname(f)));
    for (const dir of dirs) {
      const watcher = watch(dir, { persistent: false }, () => this.schedule());
      watcher.on('error', (err) =>
        logger.error({ event: `${what}_watch_failed`, dir, err: errorMessage(err) }, `cannot watch ${what} files`),
      );
      this.watchers.push(watcher);
    }
  }

  stop(): void {
    clearTimeout(this.timer);
    for (const w of this.watchers) w.close();
    this.watchers = [];
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(this.options.onChange, this.options.settleMs ?? 200);
    this.timer.unref();
  }
}
