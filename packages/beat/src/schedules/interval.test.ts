import { isCeleriacError } from '@celeriac/core';
import { describe, expect, it } from 'vitest';
import { interval } from './interval.js';
import { oneOff } from './one-off.js';
import { jitterOffsetMs } from './jitter.js';
import { nextRunAfter, upcomingRuns, type Schedule } from './schedule.js';

const runs = (s: Schedule, from: string, n: number): string[] =>
  upcomingRuns(s, from, n).map((d) => d.toISOString());

describe('interval()', () => {
  it('runs on a grid anchored at the epoch, so every beat agrees', () => {
    expect(runs(interval({ seconds: 10 }), '2024-01-01T00:00:03.500Z', 3)).toEqual([
      '2024-01-01T00:00:10.000Z',
      '2024-01-01T00:00:20.000Z',
      '2024-01-01T00:00:30.000Z',
    ]);
    expect(runs(interval(90), '2024-01-01T00:00:00Z', 2)).toEqual([
      '2024-01-01T00:01:30.000Z',
      '2024-01-01T00:03:00.000Z',
    ]);
    expect(
      runs(
        interval({ weeks: 1, days: 1, hours: 1, minutes: 1, seconds: 1 }),
        '1970-01-01T00:00:00Z',
        1,
      ),
    ).toEqual(['1970-01-09T01:01:01.000Z']);
  });

  it('anchors at startDate and stops at endDate', () => {
    const s = interval({
      hours: 1,
      startDate: '2024-01-01T00:30:00Z',
      endDate: '2024-01-01T02:30:00Z',
    });
    expect(runs(s, '2023-12-31T00:00:00Z', 5)).toEqual([
      '2024-01-01T00:30:00.000Z',
      '2024-01-01T01:30:00.000Z',
      '2024-01-01T02:30:00.000Z',
    ]);
    expect(nextRunAfter(s, '2024-01-01T00:30:00Z')?.toISOString()).toBe('2024-01-01T01:30:00.000Z');
    expect(nextRunAfter(s, '2024-01-01T02:30:00Z')).toBeUndefined();
  });

  it('is elapsed time: a daily interval keeps 24 hours across DST', () => {
    const s = interval({ days: 1, startDate: '2024-03-30T12:00:00Z' });
    expect(runs(s, '2024-03-30T00:00:00Z', 3)).toEqual([
      '2024-03-30T12:00:00.000Z',
      '2024-03-31T12:00:00.000Z',
      '2024-04-01T12:00:00.000Z',
    ]);
  });

  it('jitter is a deterministic move both ways within the bound', () => {
    const s = interval({ minutes: 1, jitter: 5 });
    const offsets = Array.from({ length: 40 }, (_, i) => jitterOffsetMs(s, 'entry', 60_000 * i));
    for (const d of offsets) {
      expect(d).toBeGreaterThanOrEqual(-5000);
      expect(d).toBeLessThanOrEqual(5000);
    }
    expect(offsets.some((d) => d < 0)).toBe(true);
    expect(offsets.some((d) => d > 0)).toBe(true);
    expect(jitterOffsetMs(s, 'entry', 60_000)).toBe(offsets[1]);
    expect(jitterOffsetMs(interval({ minutes: 1 }), 'entry', 60_000)).toBe(0);
  });

  it('rejects an empty or negative period', () => {
    for (const bad of [{}, { seconds: 0 }, { minutes: -1 }, { hours: Number.NaN }]) {
      let caught: unknown;
      try {
        interval(bad);
      } catch (err) {
        caught = err;
      }
      expect(isCeleriacError(caught, 'CELERIAC_ERR_INVALID_SCHEDULE')).toBe(true);
    }
    expect(() => interval({ minutes: -1 })).toThrow(/interval\.minutes/);
  });
});

describe('oneOff()', () => {
  it('runs once, strictly after `after`', () => {
    const s = oneOff('2025-12-31T23:59:00+01:00');
    expect(runs(s, '2025-01-01T00:00:00Z', 3)).toEqual(['2025-12-31T22:59:00.000Z']);
    expect(nextRunAfter(s, '2025-12-31T22:59:00Z')).toBeUndefined();
    expect(nextRunAfter(oneOff(new Date(5000)), 0)?.getTime()).toBe(5000);
    expect(() => oneOff('tomorrow')).toThrow(/oneOff\.date/);
  });
});
