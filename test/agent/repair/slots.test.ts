import { describe, expect, it } from 'vitest';
import { RepairSlots, SlotQueueClearedError } from '../../../src/agent/repair/slots.js';

/** A task that records when it starts and finishes when told. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

describe('repair slots: urgent before normal, first come first served within each', () => {
  it.each<[string, Array<[key: string, urgent: boolean]>, string[], string[]]>([
    [
      'normal only: in order',
      [
        ['a', false],
        ['b', false],
        ['c', false],
      ],
      [],
      ['a', 'b', 'c'],
    ],
    [
      'urgent jumps the waiting normal ones',
      [
        ['a', false],
        ['b', false],
        ['u', true],
      ],
      [],
      ['a', 'u', 'b'],
    ],
    [
      'a promoted waiting one goes to the end of the urgent line',
      [
        ['a', false],
        ['b', false],
        ['c', false],
        ['u', true],
      ],
      ['c'],
      ['a', 'u', 'c', 'b'],
    ],
  ])('%s', async (_name, queued, promoted, expectedOrder) => {
    const slots = new RepairSlots(1);
    const started: string[] = [];
    const gates = new Map(queued.map(([key]) => [key, gate()]));
    const runs = queued.map(([key, urgent]) =>
      slots.run(
        key,
        async () => {
          started.push(key);
          await gates.get(key)!.opened;
        },
        { urgent },
      ),
    );
    for (const key of promoted) expect(slots.promote(key)).toBe(true);
    expect(slots.promote('not-waiting')).toBe(false);
    for (const key of expectedOrder) {
      expect(started.at(-1)).toBe(key);
      expect(slots.activeCount).toBe(1);
      gates.get(key)!.open();
      await runs[queued.findIndex(([k]) => k === key)];
      await Promise.resolve();
    }
    expect(started).toEqual(expectedOrder);
  });

  it('never runs more than its concurrency; clearQueue drops the waiting ones only', async () => {
    const slots = new RepairSlots(2);
    const g = gate();
    const running = [slots.run('a', () => g.opened), slots.run('b', () => g.opened)];
    const waiting = slots.run('c', () => Promise.resolve('ran'));
    expect([slots.activeCount, slots.pendingCount]).toEqual([2, 1]);
    slots.clearQueue();
    await expect(waiting).rejects.toBeInstanceOf(SlotQueueClearedError);
    g.open();
    await Promise.all(running);
    expect([slots.activeCount, slots.pendingCount]).toEqual([0, 0]);
  });
});
