import { randomUUID } from 'node:crypto';
import { lstat, mkdir, rename, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { FetchError } from './errors.js';

/**
 * Where a download lands before it is trusted. Everything is written inside `<out>/tmp-<segment>-<uuid>/`
 * (the name Pinot gives its own download folders, BaseTableDataManager.getTmpSegmentDataDir, so neither Pinot
 * nor the sidecar would ever take it for a segment), one fresh sub-folder per source. Only a verified segment
 * is renamed to `<out>/<segment>`: same file system, so the rename is atomic and the target is either absent,
 * the old segment, or the whole new one. discard() removes the staging folder whatever happened, and after a
 * failure the output folder too if this fetch created it.
 */
export class Staging {
  private dir: string | undefined;
  private tries = 0;
  /** The topmost folder prepare() created for `outDir`, removed again if nothing was fetched into it. */
  private createdOut: string | undefined;
  private committed = false;

  private constructor(
    readonly outDir: string,
    readonly segment: string,
    private readonly options: { force: boolean },
  ) {}

  get target(): string {
    return path.join(this.outDir, this.segment);
  }

  /** Checks the output folder and the target before any download; creates `outDir` if needed. */
  static async prepare(outDir: string, segment: string, options: { force: boolean }): Promise<Staging> {
    const staging = new Staging(path.resolve(outDir), segment, options);
    try {
      staging.createdOut = await mkdir(staging.outDir, { recursive: true });
    } catch (err) {
      throw new FetchError(`--out ${outDir}: cannot create or use it as a folder: ${(err as Error).message}`, {
        usage: true,
        cause: err,
      });
    }
    if (!(await lstat(staging.outDir)).isDirectory())
      throw new FetchError(`--out ${outDir} is not a folder`, { usage: true });
    await staging.refuseExisting();
    return staging;
  }

  /** A new empty folder for the next source's extraction; the previous one is removed first. */
  async freshDir(): Promise<string> {
    if (this.dir === undefined) {
      this.dir = path.join(this.outDir, `tmp-${this.segment}-${randomUUID()}`);
      await mkdir(this.dir);
    }
    await this.clearTries();
    this.tries += 1;
    const dir = path.join(this.dir, `source-${this.tries}`);
    await mkdir(dir);
    return dir;
  }

  /** Move `<dir>/<segment>` (a verified extraction) to the target; with `force`, replacing what is there. */
  async commit(dir: string): Promise<string> {
    const extracted = path.join(dir, this.segment);
    const existing = await exists(this.target);
    if (existing && !this.options.force) await this.refuseExisting();
    if (!existing) {
      await rename(extracted, this.target);
      this.committed = true;
      return this.target;
    }
    // Old segment aside (inside the staging folder, so discard() removes it), new one in, old one back on failure.
    const previous = path.join(this.dir ?? dir, 'previous');
    await rename(this.target, previous);
    try {
      await rename(extracted, this.target);
    } catch (err) {
      await rename(previous, this.target).catch(() => {});
      throw err;
    }
    this.committed = true;
    return this.target;
  }

  /** Remove the staging folder; after a failure also the output folders prepare() created (when still empty). */
  async discard(): Promise<void> {
    if (this.dir !== undefined) await rm(this.dir, { recursive: true, force: true });
    this.dir = undefined;
    if (this.committed || this.createdOut === undefined) return;
    // rmdir, not rm -r: a folder someone else has put something into meanwhile stays.
    for (let d = this.outDir; d.length >= this.createdOut.length; d = path.dirname(d)) {
      if (
        !(await rmdir(d).then(
          () => true,
          () => false,
        ))
      )
        break;
    }
    this.createdOut = undefined;
  }

  private async clearTries(): Promise<void> {
    if (this.dir === undefined || this.tries === 0) return;
    await rm(path.join(this.dir, `source-${this.tries}`), { recursive: true, force: true });
  }

  private async refuseExisting(): Promise<void> {
    if (!this.options.force && (await exists(this.target))) {
      throw new FetchError(`${this.target} already exists; pass --force to replace it`, { usage: true });
    }
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
