import { describe, expect, it } from 'vitest';
import { planTicks } from './misfire.js';
import { dueAtMs } from './schedules/jitter.js';
import { interval } from './schedules/interval.js';
import { oneOff } from './schedules/one-off.js';

const minute = interval({ minutes: 1 });
const T0 = Date.parse('2024-01-01T00:00:00Z');
const policy = (
  o: Partial<{
    misfireGraceTime: number | null;
    coalesce: boolean;
    catchUp: boolean;
    catchUpLimit: number;
  }> = {},
) => ({
  name: 'e',
  misfireGraceTime: null,
  coalesce: true,
  catchUp: false,
  catchUpLimit: 100,
  ...o,
});

describe('planTicks: the misfire policy', () => {
  it('an on-time run is dispatched and the next one computed', () => {
    const p = planTicks({ definition: policy(), schedule: minute, nextRunAt: T0, now: T0 + 20 });
    expect(p).toMatchObject({
      dispatch: [T0],
      due: 1,
      coalesced: 0,
      dropped: 0,
      misfired: [],
      nextRunAt: T0 + 60_000,
      dueAt: T0 + 60_000,
    });
  });

  it('nothing is due before the next run', () => {
    const p = planTicks({ definition: policy(), schedule: minute, nextRunAt: T0, now: T0 - 1 });
    expect(p).toMatchObject({ dispatch: [], due: 0, nextRunAt: T0 });
  });

  it('coalesce (default): ten missed runs become one, the latest', () => {
    const p = planTicks({
      definition: policy(),
      schedule: minute,
      nextRunAt: T0,
      now: T0 + 9 * 60_000 + 5,
    });
    expect(p).toMatchObject({
      dispatch: [T0 + 9 * 60_000],
      due: 10,
      coalesced: 9,
      nextRunAt: T0 + 10 * 60_000,
    });
  });

  it('catchUp: every missed run, oldest first, up to catchUpLimit', () => {
    const all = planTicks({
      definition: policy({ catchUp: true }),
      schedule: minute,
      nextRunAt: T0,
      now: T0 + 4 * 60_000,
    });
    expect(all.dispatch).toEqual([0, 1, 2, 3, 4].map((i) => T0 + i * 60_000));
    const capped = planTicks({
      definition: policy({ catchUp: true, catchUpLimit: 3 }),
      schedule: minute,
      nextRunAt: T0,
      now: T0 + 9 * 60_000,
    });
    expect(capped).toMatchObject({
      dispatch: [7, 8, 9].map((i) => T0 + i * 60_000),
      dropped: 7,
      coalesced: 0,
    });
    const noCoalesce = planTicks({
      definition: policy({ coalesce: false }),
      schedule: minute,
      nextRunAt: T0,
      now: T0 + 2 * 60_000,
    });
    expect(noCoalesce.dispatch).toHaveLength(3);
  });

  it('misfireGraceTime: a run later than the grace is skipped', () => {
    const late = planTicks({
      definition: policy({ misfireGraceTime: 30 }),
      schedule: minute,
      nextRunAt: T0,
      now: T0 + 45_000,
    });
    expect(late).toMatchObject({ dispatch: [], misfired: [T0], nextRunAt: T0 + 60_000 });
    const inGrace = planTicks({
      definition: policy({ misfireGraceTime: 30 }),
      schedule: minute,
      nextRunAt: T0,
      now: T0 + 29_000,
    });
    expect(inGrace.dispatch).toEqual([T0]);
    // With catch-up, each run is checked on its own: only the recent ones run.
    const mixed = planTicks({
      definition: policy({ misfireGraceTime: 90, catchUp: true }),
      schedule: minute,
      nextRunAt: T0,
      now: T0 + 3 * 60_000,
    });
    expect(mixed.dispatch).toEqual([T0 + 2 * 60_000, T0 + 3 * 60_000]);
    expect(mixed.misfired).toEqual([T0, T0 + 60_000]);
  });

  it('a one-off that ran has no next run', () => {
    const p = planTicks({ definition: policy(), schedule: oneOff(T0), nextRunAt: T0, now: T0 + 1 });
    expect(p).toMatchObject({ dispatch: [T0], nextRunAt: null, dueAt: null });
  });

  it('jitter moves the due time both ways, never the scheduled time, and keeps runs in order', () => {
    // A jitter longer than the period: each move is capped at half the gap to its neighbours.
    const s = interval({ minutes: 1, jitter: 50 });
    let nextRunAt = T0;
    let now = dueAtMs(s, 'e', T0);
    const seen: number[] = [];
    let early = 0;
    for (let i = 0; i < 50; i++) {
      const p = planTicks({ definition: policy(), schedule: s, nextRunAt, now });
      expect(p.dispatch).toEqual([nextRunAt]); // one run per due time: nothing coalesced
      expect(p.coalesced).toBe(0);
      seen.push(...p.dispatch);
      if (now < nextRunAt) early++;
      expect(p.nextRunAt).toBe(nextRunAt + 60_000);
      expect(Math.abs((p.dueAt ?? 0) - (p.nextRunAt ?? 0))).toBeLessThan(30_000);
      expect(p.dueAt).toBeGreaterThan(now); // strictly after the previous run's due time
      expect(p.dueAt).toBeGreaterThan(nextRunAt); // and after its scheduled time
      nextRunAt = p.nextRunAt ?? 0;
      now = p.dueAt ?? 0;
    }
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => T0 + i * 60_000));
    expect(early).toBeGreaterThan(5); // some runs are due before their scheduled time
  });
});
