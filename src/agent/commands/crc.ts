import { inspectCrc } from '../../segments/index.js';
import type { CommandIo } from '../cli.js';

const HELP = `Usage: pinot-sidecar crc <segmentDir|tarball> [--json]

Recomputes Pinot's segment CRC (Adler-32 over every file but creation.meta and *.crc, in path order;
CrcUtils.computeCrc) and compares it with the CRC stored in creation.meta. Exit code 0 when they
match, 1 when they differ, 2 on error.

A mismatch is not necessarily corruption: format conversion (v1 -> v3) and indexes added after
creation change the files but keep creation.meta (docs/pinot-interop.md, "creation.meta and the CRC"). Pinot itself compares
creation.meta with ZooKeeper's segment.crc, never the recomputed value.`;

export async function runCrc(args: string[], io: CommandIo): Promise<number> {
  const json = args.includes('--json');
  const targets = args.filter((a) => a !== '--json');
  if (targets.includes('--help') || targets.includes('-h')) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  if (targets.length !== 1 || targets[0]!.startsWith('-')) {
    // One line, not the whole help: the mistake is in the arguments, and the usage line says what is expected.
    io.stderr(`${HELP.split('\n')[0]!}  (pinot-sidecar crc --help for more)\n`);
    return 2;
  }
  const r = await inspectCrc(targets[0]!);
  if (json) {
    io.stdout(
      `${JSON.stringify({ ...r, creationMeta: { ...r.creationMeta, creationTime: r.creationMeta.creationTime } }, null, 2)}\n`,
    );
    return r.match ? 0 : 1;
  }
  const created = Number.isFinite(r.creationMeta.creationTime)
    ? new Date(r.creationMeta.creationTime).toISOString()
    : String(r.creationMeta.creationTime);
  const lines = [
    `segment:            ${r.segmentName} (${r.source}, ${r.files.length} files covered)`,
    `creation.meta:      ${r.creationMetaRelPath}, created ${created}`,
    `creation.meta CRC:  ${r.creationMeta.crc}`,
    `recomputed CRC:     ${r.recomputedCrc}`,
  ];
  if (r.creationMeta.dataCrc !== undefined || r.recomputedDataCrc !== undefined) {
    lines.push(
      `data CRC:           stored ${r.creationMeta.dataCrc ?? '-'}, recomputed ${r.recomputedDataCrc ?? '- (v3 layout: not recomputable)'}`,
    );
  }
  lines.push(
    r.match
      ? 'result:             MATCH'
      : 'result:             MISMATCH: the files differ from what creation.meta was computed over (converted format, indexes added after creation, or corruption)',
  );
  io.stdout(`${lines.join('\n')}\n`);
  return r.match ? 0 : 1;
}
