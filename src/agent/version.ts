import { readFileSync } from 'node:fs';

/** The package's version (package.json beside src/ and dist/: both are two levels below it). */
export function version(): string {
  try {
    return (
      (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string })
        .version ?? 'unknown'
    );
  } catch {
    return 'unknown';
  }
}
