import { describe, expect, it } from 'vitest';
import { REPAIR_STATES, RepairState } from '../../../src/agent/repair/repair-state.js';

const T0 = Date.parse('2024-06-01T00:00:00Z');

function clocked() {
  let now = T0;
  return { state: new RepairState({ now: () => now, maxFinished: 2 }), tick: (ms: number) => (now += ms) };
}

describe('RepairState', () => {
  it('keeps fields across transitions, stamps updatedAt, clears nextAttemptAt unless given', () => {
    const { state, tick } = clocked();
    state.update('t_REALTIME', 's1', { state: 'pending' });
    tick(1000);
    state.update('t_REALTIME', 's1', {
      state: 'retrying',
      reason: 'InternalError',
      lastError: 'boom',
      attempts: 1,
      failures: 1,
      nextAttemptAt: T0 + 5000,
    });
    expect(state.nextDue()).toBe(T0 + 5000);
    tick(5000);
    state.update('t_REALTIME', 's1', { state: 'uploading', uri: 's3://b/t/s1', reason: null });
    expect(state.get('t_REALTIME', 's1')).toMatchObject({
      state: 'uploading',
      attempts: 1,
      lastError: 'boom',
      nextAttemptAt: null,
      uri: 's3://b/t/s1',
      updatedAt: T0 + 6000,
    });
    expect(state.nextDue()).toBeNull();
  });

  it('snapshot: sorted segments, ISO times, every state in totals', () => {
    const { state } = clocked();
    state.update('b_REALTIME', 's', { state: 'skipped', reason: 'crc_mismatch', detail: 'local 1, ZK 2' });
    state.update('a_REALTIME', 's2', {
      state: 'failed',
      reason: 'AccessDenied',
      lastError: 'Access Denied',
      attempts: 1,
      nextAttemptAt: T0 + 300_000,
    });
    state.update('a_REALTIME', 's1', { state: 'done', uri: 'file:///d/a/s1', attempts: 1 });
    const snapshot = state.snapshot();
    expect(snapshot.segments.map((s) => `${s.table}/${s.segment}`)).toEqual([
      'a_REALTIME/s1',
      'a_REALTIME/s2',
      'b_REALTIME/s',
    ]);
    expect(snapshot.segments[1]).toEqual({
      table: 'a_REALTIME',
      segment: 's2',
      state: 'failed',
      reason: 'AccessDenied',
      detail: null,
      attempts: 1,
      lastError: 'Access Denied',
      nextAttemptAt: '2024-06-01T00:05:00.000Z',
      uri: null,
      orphanUri: null,
      updatedAt: '2024-06-01T00:00:00.000Z',
    });
    expect(Object.keys(snapshot.totals)).toEqual([...REPAIR_STATES]);
    expect(snapshot.totals).toMatchObject({ done: 1, failed: 1, skipped: 1, pending: 0 });
    expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot);
  });

  it('bounds finished entries, oldest first; forget() drops only active ones', () => {
    const { state } = clocked();
    for (const s of ['s1', 's2', 's3']) state.update('t_REALTIME', s, { state: 'done' });
    state.update('t_REALTIME', 's4', { state: 'gone' });
    expect(state.snapshot().segments.map((s) => s.segment)).toEqual(['s3', 's4']);
    expect(state.totals()).toMatchObject({ done: 1, gone: 1 });
    state.forget('t_REALTIME', 's3');
    expect(state.get('t_REALTIME', 's3')?.state).toBe('done');
    state.update('t_REALTIME', 's5', { state: 'skipped', reason: 'not_online' });
    state.forget('t_REALTIME', 's5');
    expect(state.get('t_REALTIME', 's5')).toBeUndefined();
    expect(state.totals().skipped).toBe(0);
  });

  it('a finished entry that becomes active again leaves the finished list', () => {
    const { state } = clocked();
    state.update('t_REALTIME', 's1', { state: 'fixed_by_other' });
    state.update('t_REALTIME', 's1', { state: 'pending' });
    expect(state.totals()).toMatchObject({ fixed_by_other: 0, pending: 1 });
    expect([...state.activeEntries()].map((e) => e.segment)).toEqual(['s1']);
  });

  it('queue depth counts segments waiting for or undergoing repair', () => {
    const { state } = clocked();
    const states = [
      'pending',
      'uploading',
      'verifying',
      'committing',
      'retrying',
      'failed',
      'skipped',
      'done',
    ] as const;
    states.forEach((s, i) => state.update('t_REALTIME', `s${i}`, { state: s }));
    expect(state.queueDepth()).toBe(6);
  });
});
