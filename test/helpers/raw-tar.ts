import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/**
 * GNU tar as an independent judge of the archives we write: if it lists and extracts them, so do
 * the readers Pinot operators use. Spawned rather than node-tar, which is also what writes our headers.
 */
const run = promisify(execFile);

/** `tar tzf`: entry names in archive order. */
export async function listTarGz(file: string): Promise<string[]> {
  const { stdout } = await run('tar', ['tzf', file], { maxBuffer: 64 * 1024 * 1024 });
  return stdout.split('\n').filter((line) => line !== '');
}

/** `tar xzf` into `destDir`; rejects if GNU tar reports any error (a truncated archive, a bad header). */
export async function extractTarGz(file: string, destDir: string): Promise<void> {
  await run('tar', ['xzf', file, '-C', destDir]);
}
