import { execFileSync } from 'node:child_process';
import { rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TinyTmpfs {
  /** The mount point, or null when the mount was refused (not root). */
  dir: string | null;
  /** For a describe() title: empty when mounted, else why the tests are skipped. */
  skipNote: string;
  /** Remount read-only or read-write (`mount -o remount,ro|rw`): writes then fail with EROFS from the kernel. */
  setReadOnly(readOnly: boolean): void;
  unmount(): Promise<void>;
}

/**
 * A real tmpfs of `bytes`, so that writes get ENOSPC (or, remounted read-only, EROFS) from the kernel, not
 * from a simulation. Needs root (mount); call it once when the test file loads and unmount() in afterAll.
 */
export function mountTinyTmpfs(name: string, bytes: number): TinyTmpfs {
  const dir = path.join(tmpdir(), `${name}-tmpfs-${process.pid}`);
  try {
    execFileSync('mkdir', ['-p', dir]);
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    return {
      dir: null,
      skipNote: ` (skipped: could not mount a ${bytes}-byte tmpfs, which needs root: ${String(err).split('\n')[0]})`,
      setReadOnly: () => {},
      unmount: async () => {},
    };
  }
  return {
    dir,
    skipNote: '',
    setReadOnly: (readOnly) => {
      execFileSync('mount', ['-o', `remount,${readOnly ? 'ro' : 'rw'}`, dir], { stdio: 'pipe' });
    },
    unmount: async () => {
      execFileSync('umount', [dir]);
      await rmdir(dir);
    },
  };
}
