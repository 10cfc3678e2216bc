import { describe, expect, it } from 'vitest';
import { SingleFlight, untilAborted } from '../../../src/agent/http/single-flight.js';

/** A computation the test settles by hand, recording the signal each run was given. */
function controllable() {
  const runs: Array<{ key: string; signal: AbortSignal; resolve: (v: string) => void; reject: (e: Error) => void }> =
    [];
  const compute = (key: string, signal: AbortSignal) =>
    new Promise<string>((resolve, reject) => {
      runs.push({ key, signal, resolve, reject });
    });
  return { runs, compute };
}

const caller = () => new AbortController();

describe('SingleFlight', () => {
  it('concurrent callers of one key share one computation; other keys get their own', async () => {
    const { runs, compute } = controllable();
    const flights = new SingleFlight(compute, { reuseMs: 1_000 });
    const a = [
      flights.get('t1', caller().signal),
      flights.get('t1', caller().signal),
      flights.get('t1', caller().signal),
    ];
    const b = flights.get('t2', caller().signal);
    expect(runs.map((r) => r.key)).toEqual(['t1', 't2']);
    expect(flights.running).toBe(2);
    runs[0]!.resolve('one');
    runs[1]!.resolve('two');
    expect(await Promise.all(a)).toEqual(['one', 'one', 'one']);
    expect(await b).toBe('two');
    expect(flights.running).toBe(0);
  });

  it.each([
    ['within the reuse window: the kept result, no new computation', 999, 1],
    ['at the end of the window: a new computation', 1_000, 2],
  ])('%s', async (_name, elapsed, computations) => {
    const { runs, compute } = controllable();
    const clock = { now: 0 };
    const flights = new SingleFlight(compute, { reuseMs: 1_000, now: () => clock.now });
    const first = flights.get('t', caller().signal);
    runs[0]!.resolve('first');
    await first;
    clock.now += elapsed;
    const second = flights.get('t', caller().signal);
    if (runs.length > 1) runs[1]!.resolve('second');
    expect(await second).toBe(computations === 1 ? 'first' : 'second');
    expect(runs).toHaveLength(computations);
  });

  it('a failure reaches every waiter and is not kept', async () => {
    const { runs, compute } = controllable();
    const flights = new SingleFlight(compute, { reuseMs: 60_000 });
    const waiters = [flights.get('t', caller().signal), flights.get('t', caller().signal)];
    runs[0]!.reject(new Error('zookeeper away'));
    for (const w of waiters) await expect(w).rejects.toThrow('zookeeper away');
    const retry = flights.get('t', caller().signal);
    expect(runs).toHaveLength(2);
    runs[1]!.resolve('ok');
    expect(await retry).toBe('ok');
  });

  it('a caller that leaves is released at once; the computation goes on for the others', async () => {
    const { runs, compute } = controllable();
    const flights = new SingleFlight(compute, { reuseMs: 1_000 });
    const leaving = caller();
    const gone = flights.get('t', leaving.signal);
    const staying = flights.get('t', caller().signal);
    leaving.abort(new Error('client closed'));
    await expect(gone).rejects.toThrow('client closed');
    expect(runs[0]!.signal.aborted).toBe(false);
    runs[0]!.resolve('done');
    expect(await staying).toBe('done');
  });

  it('when the last caller leaves, the computation is aborted and forgotten: the next caller starts afresh', async () => {
    const { runs, compute } = controllable();
    const flights = new SingleFlight(compute, { reuseMs: 1_000 });
    const callers = [caller(), caller()];
    const gets = callers.map((c) => flights.get('t', c.signal));
    for (const c of callers) c.abort(new Error('left'));
    for (const g of gets) await expect(g).rejects.toThrow('left');
    expect(runs[0]!.signal.aborted).toBe(true);
    expect(flights.running).toBe(0);
    // A late result of the abandoned run is not kept.
    runs[0]!.resolve('stale');
    const next = flights.get('t', caller().signal);
    expect(runs).toHaveLength(2);
    runs[1]!.resolve('fresh');
    expect(await next).toBe('fresh');
  });

  it('a caller already gone starts nothing', async () => {
    const { runs, compute } = controllable();
    const flights = new SingleFlight(compute, { reuseMs: 1_000 });
    const gone = caller();
    gone.abort(new Error('gone'));
    await expect(flights.get('t', gone.signal)).rejects.toThrow('gone');
    expect(runs).toHaveLength(0);
  });
});

describe('untilAborted', () => {
  it.each([
    ['the work settles first', false, 'value'],
    ['the signal aborts first', true, 'aborted'],
  ])('%s', async (_name, abortFirst, outcome) => {
    const controller = new AbortController();
    let settle!: (v: string) => void;
    const work = new Promise<string>((r) => {
      settle = r;
    });
    const raced = untilAborted(work, controller.signal);
    if (abortFirst) controller.abort(new Error('aborted'));
    settle('value');
    if (outcome === 'value') expect(await raced).toBe('value');
    else await expect(raced).rejects.toThrow('aborted');
  });
});
