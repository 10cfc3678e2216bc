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
    expect(new PlansFirst({ now: clock }).streamGate()()).toBeUndefined();
  });

  it('a stream waits while a plan is in flight and goes on when it ends', async () => {
    const plans = new PlansFirst({ now: clock });
    const gate = plans.streamGate();
    const end = plans.startPlan();
    const waiting = gate();
    expect(await settled(waiting)).toBe('pending');
    end();
    expect(await settled(waiting)).toBe('resolved');
    expect(gate()).toBeUndefined();
  });

  it('with two plans in flight, the stream waits for both', async () => {
    const plans = new PlansFirst({ now: clock });
    const endFirst = plans.startPlan();
    const endSecond = plans.startPlan();
    const waiting = plans.streamGate()();
    endFirst();
    expect(await settled(waiting)).toBe('pending');
    endSecond();
    expect(await settled(waiting)).toBe('resolved');
  });

  it('ending a plan twice does not count as ending another one', async () => {
    const plans = new PlansFirst({ now: clock });
    const endFirst = plans.startPlan();
    plans.startPlan();
    const waiting = plans.streamGate()();
    endFirst();
    endFirst();
    expect(plans.planning).toBe(1);
    expect(await settled(waiting)).toBe('pending');
  });

  it(`a plan that never ends holds each stream once, ${PLAN_HOLD_MS} ms from the plan's start at most`, async () => {
    const plans = new PlansFirst({ now: clock });
    plans.startPlan(); // stuck on a slow disk
    await advance(20);
    const first = plans.streamGate();
    const waiting = first();
    await advance(PLAN_HOLD_MS - 20 - 1);
    expect(await settled(waiting)).toBe('pending');
    await advance(1);
    expect(await settled(waiting)).toBe('resolved');
    expect(first()).toBeUndefined(); // this stream has waited for that plan: its next reads go on
    expect(plans.streamGate()()).toBeUndefined(); // and for any stream, the plan is now older than the hold
    expect(plans.planning).toBe(1);
  });

  it('a stream that waited for a plan is not held by it again, while another stream is', async () => {
    const plans = new PlansFirst({ now: clock });
    const end = plans.startPlan();
    const first = plans.streamGate();
    const firstWait = first();
    await advance(PLAN_HOLD_MS);
    expect(await settled(firstWait)).toBe('resolved');
    expect(first()).toBeUndefined();
    end();
  });

  it('plans that start while a stream waits do not extend its wait; its next read waits for them', async () => {
    // Plans overlapping without end must slow a stream by their own length per read, never stop it.
    const plans = new PlansFirst({ now: clock });
    const gate = plans.streamGate();
    const endA = plans.startPlan();
    const waitA = gate();
    await advance(2);
    const endB = plans.startPlan();
    endA();
    expect(await settled(waitA)).toBe('resolved');
    const waitB = gate();
    expect(await settled(waitB)).toBe('pending');
    await advance(2);
    plans.startPlan(); // C, never ending
    endB();
    expect(await settled(waitB)).toBe('resolved');
  });

  it('a stuck old plan does not hold a stream that asks later; a young one does', async () => {
    const plans = new PlansFirst({ now: clock });
    plans.startPlan();
    await advance(PLAN_HOLD_MS + 10);
    const gate = plans.streamGate();
    expect(gate()).toBeUndefined();
    const endYoung = plans.startPlan();
    const waiting = gate();
    expect(await settled(waiting)).toBe('pending');
    endYoung();
    expect(await settled(waiting)).toBe('resolved');
  });

  it('the hold counts from the youngest plan the stream waits for', async () => {
    const plans = new PlansFirst({ now: clock, holdMs: 10 });
    plans.startPlan();
    await advance(6);
    plans.startPlan();
    const waiting = plans.streamGate()();
    await advance(9);
    expect(await settled(waiting)).toBe('pending');
    await advance(1);
    expect(await settled(waiting)).toBe('resolved');
  });
});
