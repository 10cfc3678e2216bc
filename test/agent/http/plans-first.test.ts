import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PLAN_HOLD_MS, PlansFirst } from '../../../src/agent/http/plans-first.js';

// PlansFirst: running streams wait for the plans of new downloads, at most PLAN_HOLD_MS from a plan's start.
// Fake timers and a clock that follows them: the bound is checked to the millisecond, with no real waiting.

let now = 0;
const clock = (): number => now;

/** Advances the clock and the fake timers together. */
async function advance(ms: number): Promise<void> {
  now += ms;
  await vi.advanceTimersByTimeAsync(ms);
}

/** A promise's state after every pending callback ran. */
async function settled(promise: Promise<void> | undefined): Promise<'none' | 'pending' | 'resolved'> {
  if (promise === undefined) return 'none';
  let done = false;
  void promise.then(() => (done = true));
  await vi.advanceTimersByTimeAsync(0);
  return done ? 'resolved' : 'pending';
}

beforeEach(() => {
  vi.useFakeTimers();
  now = 1_000;
});

afterEach(() => {
  vi.useRealTimers();
});

describe('PlansFirst', () => {
  it('with no plan in flight, a stream goes on at once (no promise)', () => {
    expect(new PlansFirst({ now: clock }).wait()).toBeUndefined();
  });

  it('a stream waits while a plan is in flight and goes on when it ends', async () => {
    const gate = new PlansFirst({ now: clock });
    const end = gate.startPlan();
    const waiting = gate.wait();
    expect(await settled(waiting)).toBe('pending');
    end();
    expect(await settled(waiting)).toBe('resolved');
    expect(gate.wait()).toBeUndefined();
  });

  it('with two plans, the stream waits for both', async () => {
    const gate = new PlansFirst({ now: clock });
    const endFirst = gate.startPlan();
    const endSecond = gate.startPlan();
    const waiting = gate.wait();
    endFirst();
    expect(await settled(waiting)).toBe('pending');
    endSecond();
    expect(await settled(waiting)).toBe('resolved');
  });

  it('ending a plan twice does not count as ending another one', async () => {
    const gate = new PlansFirst({ now: clock });
    const endFirst = gate.startPlan();
    gate.startPlan();
    endFirst();
    endFirst();
    expect(gate.planning).toBe(1);
    expect(await settled(gate.wait())).toBe('pending');
  });

  it(`a plan that never ends holds a stream ${PLAN_HOLD_MS} ms from its start, no longer`, async () => {
    const gate = new PlansFirst({ now: clock });
    gate.startPlan(); // stuck on a slow disk
    await advance(20);
    const waiting = gate.wait();
    await advance(PLAN_HOLD_MS - 20 - 1);
    expect(await settled(waiting)).toBe('pending');
    await advance(1);
    expect(await settled(waiting)).toBe('resolved');
    // Older than the hold, it no longer counts: the next reads go on at once.
    expect(gate.wait()).toBeUndefined();
    expect(gate.planning).toBe(1);
  });

  it('a stuck old plan does not keep a stream waiting once the young ones end', async () => {
    const gate = new PlansFirst({ now: clock });
    gate.startPlan();
    await advance(PLAN_HOLD_MS + 10);
    const endYoung = gate.startPlan();
    const waiting = gate.wait();
    expect(await settled(waiting)).toBe('pending');
    endYoung();
    expect(await settled(waiting)).toBe('resolved');
  });

  it('the hold counts from the youngest plan: a later plan extends the wait of a stream that asks after it', async () => {
    const gate = new PlansFirst({ now: clock, holdMs: 10 });
    gate.startPlan();
    await advance(6);
    gate.startPlan();
    const waiting = gate.wait();
    await advance(9);
    expect(await settled(waiting)).toBe('pending');
    await advance(1);
    expect(await settled(waiting)).toBe('resolved');
  });
});
