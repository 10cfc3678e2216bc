import { isZkCode } from '../../../src/helix/errors.js';
import type { ZkSession } from '../../../src/helix/zk-session.js';

/**
 * Every version of every segment znode of the cluster, as seen by watches for the whole run (issue 11 item 5:
 * who wrote what, and was any URL overwritten). A watch fires once per change and the read that re-arms it sees
 * the newest version, so two writes close together show as a gap in the version numbers: gaps are counted and
 * reported, never papered over.
 */
export interface ZnodeVersion {
  version: number;
  data: Buffer;
  /** ZooKeeper's modification time (the server's clock: the same machine as the suite). */
  mtimeMs: number;
}

export class ZnodeHistory {
  readonly versions = new Map<string, ZnodeVersion[]>();
  private readonly watchedParents = new Set<string>();
  private stopped = false;
  readonly errors: string[] = [];

  constructor(
    private readonly session: ZkSession,
    private readonly segmentsRoot: string,
  ) {}

  async start(): Promise<void> {
    await this.watchRoot();
  }

  stop(): void {
    this.stopped = true;
  }

  /** Segment paths seen (`<root>/<table>/<segment>`). */
  paths(): string[] {
    return [...this.versions.keys()].sort();
  }

  /** Missing version numbers between consecutive recorded versions, summed over all znodes. */
  gaps(): number {
    let gaps = 0;
    for (const list of this.versions.values())
      for (let i = 1; i < list.length; i++) gaps += list[i]!.version - list[i - 1]!.version - 1;
    return gaps;
  }

  private async watchRoot(): Promise<void> {
    if (this.stopped) return;
    try {
      const { children } = await this.session.getChildren(this.segmentsRoot, () => void this.watchRoot());
      for (const table of children) void this.watchTable(`${this.segmentsRoot}/${table}`);
    } catch (err) {
      if (!isZkCode(err, 'NO_NODE')) return this.fail(err);
      // Created with the first table: wait for it.
      const stat = await this.session
        .exists(this.segmentsRoot, () => void this.watchRoot())
        .catch((e: unknown) => this.fail(e));
      if (stat) await this.watchRoot();
    }
  }

  private async watchTable(path: string): Promise<void> {
    if (this.stopped) return;
    try {
      const { children } = await this.session.getChildren(path, () => void this.watchTable(path));
      for (const segment of children) {
        const segmentPath = `${path}/${segment}`;
        if (!this.watchedParents.has(segmentPath)) {
          this.watchedParents.add(segmentPath);
          void this.watchSegment(segmentPath);
        }
      }
    } catch (err) {
      if (!isZkCode(err, 'NO_NODE')) this.fail(err);
    }
  }

  private async watchSegment(path: string): Promise<void> {
    if (this.stopped) return;
    try {
      const { data, stat } = await this.session.getData(path, (event) => {
        if (event.type === 'dataChanged') void this.watchSegment(path);
        else this.watchedParents.delete(path);
      });
      const list = this.versions.get(path) ?? [];
      if (list.at(-1)?.version !== stat.version)
        list.push({ version: stat.version, data: data ?? Buffer.alloc(0), mtimeMs: stat.mtimeMs });
      this.versions.set(path, list);
    } catch (err) {
      if (isZkCode(err, 'NO_NODE')) this.watchedParents.delete(path);
      else this.fail(err);
    }
  }

  private fail(err: unknown): undefined {
    if (!this.stopped) this.errors.push(String(err));
    return undefined;
  }
}
