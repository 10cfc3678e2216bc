import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * The Apache Pinot jars the suite runs: resolved by Maven from test/pinot/pom.xml (the one place the version is
 * written) into a cache outside the repo, ~/.cache/pinot-sidecar/pinot-<version>/lib. Nothing is committed.
 */
export const SUITE_DIR = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const POM = path.join(SUITE_DIR, 'pom.xml');

export interface PinotJars {
  version: string;
  libDir: string;
  /** `-cp` value for PinotAdministrator (every jar of the lib dir). */
  classpath: string;
}

/** The `<pinot.version>` property of the pom. */
export function pinotVersion(): string {
  const match = /<pinot\.version>([^<]+)<\/pinot\.version>/.exec(readFileSync(POM, 'utf8'));
  if (!match?.[1]) throw new Error(`${POM} has no <pinot.version> property`);
  return match[1].trim();
}

export function jarCacheDir(version: string): string {
  return path.join(
    process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'),
    'pinot-sidecar',
    `pinot-${version}`,
    'lib',
  );
}

/** A lib dir is complete when Maven's copy finished: a marker written after it (a Ctrl-C mid-copy leaves none). */
const COMPLETE_MARKER = '.complete';

/**
 * Resolve the jars (Maven, offline-first from ~/.m2) or say why not. A reason string means "skip": Maven or
 * Java missing, or the registry cannot serve the artifacts; once resolved, every later failure is the suite's.
 */
export async function resolvePinotJars(): Promise<PinotJars | { skip: string }> {
  const version = pinotVersion();
  const libDir = jarCacheDir(version);
  if (!existsSync(path.join(libDir, COMPLETE_MARKER))) {
    for (const tool of ['mvn', 'java']) {
      const found = await promisify(execFile)('sh', ['-c', `command -v ${tool}`]).then(
        () => true,
        () => false,
      );
      if (!found)
        return {
          skip: `${tool} is not installed (apt-get install ${tool === 'mvn' ? 'maven' : 'openjdk-17-jre-headless'})`,
        };
    }
    try {
      await promisify(execFile)(
        'mvn',
        ['-B', '-q', '-f', POM, 'dependency:copy-dependencies', `-DoutputDirectory=${libDir}`],
        {
          maxBuffer: 64 * 1024 * 1024,
          timeout: 15 * 60_000,
        },
      );
    } catch (err) {
      const out = `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}`;
      const line =
        out.split('\n').find((l) => l.includes('[ERROR]') && /Could not|Failed|resolve/.test(l)) ??
        (err as Error).message;
      return {
        skip: `Maven could not resolve Apache Pinot ${version}: ${line.replace(/^\s*\[ERROR\]\s*/, '').trim()}`,
      };
    }
    const { writeFile } = await import('node:fs/promises');
    await writeFile(path.join(libDir, COMPLETE_MARKER), `${new Date().toISOString()}\n`);
  }
  const jars = readdirSync(libDir).filter((f) => f.endsWith('.jar'));
  if (!jars.some((j) => j.startsWith(`pinot-tools-${version}`)))
    return { skip: `${libDir} has no pinot-tools-${version}.jar` };
  return { version, libDir, classpath: path.join(libDir, '*') };
}

/** The jars a Kafka client needs (kafka-clients and its compressors, slf4j), by file name prefix. */
export function kafkaClientClasspath(jars: PinotJars): string {
  const wanted = ['kafka-clients-', 'slf4j-api-', 'lz4-java-', 'snappy-java-', 'zstd-jni-'];
  return readdirSync(jars.libDir)
    .filter((f) => f.endsWith('.jar') && wanted.some((w) => f.startsWith(w)))
    .map((f) => path.join(jars.libDir, f))
    .join(':');
}
