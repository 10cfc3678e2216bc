import { readdirSync } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/** A directory tree as `relative POSIX path → bytes` (files) or `'dir'`, for byte-for-byte comparison. */
export async function readTree(root: string): Promise<Map<string, Buffer | 'dir'>> {
  const out = new Map<string, Buffer | 'dir'>();
  async function walk(dir: string, rel: string): Promise<void> {
    for (const name of await readdir(dir)) {
      const abs = path.join(dir, name);
      const relPath = rel === '' ? name : `${rel}/${name}`;
      const stats = await lstat(abs);
      if (stats.isDirectory()) {
        out.set(relPath, 'dir');
        await walk(abs, relPath);
      } else if (stats.isFile()) {
        out.set(relPath, await readFile(abs));
      } else {
        throw new Error(`unexpected file type at ${abs}`);
      }
    }
  }
  await walk(root, '');
  return out;
}

/** Open file descriptors of this process (Linux). vitest runs each test file in its own process. */
export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/**
 * readTree with file contents replaced by their SHA-256: byte-for-byte comparison without slow deep equality on
 * Buffers.
 */
export async function digestTree(root: string): Promise<Map<string, string>> {
  const { createHash } = await import('node:crypto');
  const out = new Map<string, string>();
  for (const [rel, content] of await readTree(root))
    out.set(rel, content === 'dir' ? 'dir' : createHash('sha256').update(content).digest('hex'));
  return out;
}
