import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n'))
        if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, destination };
}

describe('structured logs', () => {
  it('writes one JSON object per event with the fields given and the child bindings', () => {
    const { lines, destination } = capture();
    const log = createLogger({ destination, level: 'info' });
    log.child({ table: 'events_REALTIME', segment: 's1' }).info({ bytes: 5 }, 'upload success');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      msg: 'upload success',
      table: 'events_REALTIME',
      segment: 's1',
      bytes: 5,
      level: 30,
      name: 'pinot-sidecar',
    });
    expect(typeof lines[0]!.time).toBe('string');
  });

  it('rate-limits identical warnings and errors, then reports how many it swallowed', () => {
    const { lines, destination } = capture();
    let now = 0;
    const log = createLogger({ destination, repeatWindowMs: 60_000, now: () => now });
    const child = log.child({ component: 'repair' });
    for (let i = 0; i < 100; i++)
      child.warn({ err: new Error('503 SlowDown'), table: 't', segment: 's' }, 'upload failed');
    expect(lines).toHaveLength(1);
    // A different segment or a different error is a different event.
    child.warn({ err: new Error('503 SlowDown'), table: 't', segment: 'other' }, 'upload failed');
    child.warn({ err: new Error('403 AccessDenied'), table: 't', segment: 's' }, 'upload failed');
    expect(lines).toHaveLength(3);
    now += 60_001;
    child.warn({ err: new Error('503 SlowDown'), table: 't', segment: 's' }, 'upload failed');
    expect(lines).toHaveLength(4);
    expect(lines[3]).toMatchObject({ msg: 'upload failed', suppressedRepeats: 99 });
  });

  it('never rate-limits info events', () => {
    const { lines, destination } = capture();
    const log = createLogger({ destination });
    for (let i = 0; i < 5; i++) log.info({ table: 't', segment: 's' }, 'segment download');
    expect(lines).toHaveLength(5);
  });
});
