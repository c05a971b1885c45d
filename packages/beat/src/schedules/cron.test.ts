import { isCeleriacError } from '@celeriac/core';
import { describe, expect, it } from 'vitest';
import { cron } from './cron.js';
import { upcomingRuns, type Schedule } from './schedule.js';

const runs = (s: Schedule, from: string, n: number): string[] =>
  upcomingRuns(s, from, n).map((d) => d.toISOString());

function rejectsField(fn: () => unknown, field: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(isCeleriacError(caught, 'CELERIAC_ERR_INVALID_SCHEDULE')).toBe(true);
  expect((caught as { details: { field: string } }).details.field).toBe(field);
}

describe("cron(): APScheduler's cron fields", () => {
  it("'last' is the last day of the month", () => {
    expect(runs(cron({ day: 'last', hour: 18 }), '2024-01-01T00:00:00Z', 4)).toEqual([
      '2024-01-31T18:00:00.000Z',
      '2024-02-29T18:00:00.000Z',
      '2024-03-31T18:00:00.000Z',
      '2024-04-30T18:00:00.000Z',
    ]);
  });

  it("'3rd fri', 'last fri' and '1st mon,3rd mon'", () => {
    expect(runs(cron({ day: '3rd fri', hour: 9 }), '2024-01-01T00:00:00Z', 3)).toEqual([
      '2024-01-19T09:00:00.000Z',
      '2024-02-16T09:00:00.000Z',
      '2024-03-15T09:00:00.000Z',
    ]);
    expect(runs(cron({ day: 'last fri' }), '2024-01-01T00:00:00Z', 3)).toEqual([
      '2024-01-26T00:00:00.000Z',
      '2024-02-23T00:00:00.000Z',
      '2024-03-29T00:00:00.000Z',
    ]);
    expect(runs(cron({ day: '1st mon,3rd mon', hour: 8 }), '2024-01-01T00:00:00Z', 3)).toEqual([
      '2024-01-01T08:00:00.000Z',
      '2024-01-15T08:00:00.000Z',
      '2024-02-05T08:00:00.000Z',
    ]);
    // A 5th Friday exists only in some months.
    expect(runs(cron({ day: '5th fri' }), '2024-01-01T00:00:00Z', 2)).toEqual([
      '2024-03-29T00:00:00.000Z',
      '2024-05-31T00:00:00.000Z',
    ]);
  });

  it('fields finer than the last given default to their minimum, coarser ones to *', () => {
    expect(cron({ hour: 3 }).fields).toEqual({
      year: '*',
      month: '*',
      day: '*',
      week: '*',
      dayOfWeek: '*',
      hour: '3',
      minute: '0',
      second: '0',
    });
    expect(cron({ month: 6 }).fields).toEqual({
      year: '*',
      month: '6',
      day: '1',
      week: '*',
      dayOfWeek: '*',
      hour: '0',
      minute: '0',
      second: '0',
    });
    expect(cron({ dayOfWeek: 'mon-fri' }).fields).toMatchObject({
      day: '*',
      hour: '0',
      minute: '0',
      second: '0',
    });
    expect(runs(cron({ minute: '*/20' }), '2024-01-01T00:00:00Z', 3)).toEqual([
      '2024-01-01T00:20:00.000Z',
      '2024-01-01T00:40:00.000Z',
      '2024-01-01T01:00:00.000Z',
    ]);
  });

  it('dayOfWeek counts from Monday = 0 and takes names; all fields must match', () => {
    const weekdays9to5 = cron({ dayOfWeek: 'mon-fri', hour: '9-17', minute: '*/30' });
    expect(runs(weekdays9to5, '2024-01-05T16:50:00Z', 4)).toEqual([
      '2024-01-05T17:00:00.000Z',
      '2024-01-05T17:30:00.000Z',
      '2024-01-08T09:00:00.000Z', // Monday
      '2024-01-08T09:30:00.000Z',
    ]);
    expect(runs(cron({ dayOfWeek: 0, hour: 12 }), '2024-01-01T13:00:00Z', 1)).toEqual([
      '2024-01-08T12:00:00.000Z',
    ]); // 0 = Monday
    expect(runs(cron({ day: '1-7', dayOfWeek: 'sun' }), '2024-01-01T00:00:00Z', 2)).toEqual([
      '2024-01-07T00:00:00.000Z',
      '2024-02-04T00:00:00.000Z',
    ]);
  });

  it('ISO week numbers, years and seconds', () => {
    expect(runs(cron({ week: 1, dayOfWeek: 'mon' }), '2024-06-01T00:00:00Z', 2)).toEqual([
      '2024-12-30T00:00:00.000Z',
      '2025-12-29T00:00:00.000Z',
    ]);
    expect(
      runs(cron({ year: '2025-2026', month: 'feb', day: 'last' }), '2024-01-01T00:00:00Z', 3),
    ).toEqual(['2025-02-28T00:00:00.000Z', '2026-02-28T00:00:00.000Z']);
    expect(runs(cron({ second: '*/15' }), '2024-01-01T00:00:01Z', 2)).toEqual([
      '2024-01-01T00:00:15.000Z',
      '2024-01-01T00:00:30.000Z',
    ]);
    expect(runs(cron({ month: 2, day: 29 }), '2024-03-01T00:00:00Z', 1)).toEqual([
      '2028-02-29T00:00:00.000Z',
    ]);
  });

  it('reads fields in a time zone, with the DST rules', () => {
    const s = cron({ hour: 2, minute: 30, timezone: 'America/New_York' });
    expect(runs(s, '2024-03-09T12:00:00Z', 2)).toEqual([
      '2024-03-10T07:30:00.000Z',
      '2024-03-11T06:30:00.000Z',
    ]);
    const hourly = cron({ minute: 0, timezone: 'Europe/London' });
    expect(runs(hourly, '2024-10-26T23:30:00Z', 3)).toEqual([
      '2024-10-27T00:00:00.000Z',
      '2024-10-27T01:00:00.000Z',
      '2024-10-27T02:00:00.000Z',
    ]);
  });

  it('startDate and endDate bound the runs', () => {
    const s = cron({
      hour: 12,
      startDate: '2024-01-10T00:00:00Z',
      endDate: '2024-01-11T23:00:00Z',
    });
    expect(runs(s, '2024-01-01T00:00:00Z', 5)).toEqual([
      '2024-01-10T12:00:00.000Z',
      '2024-01-11T12:00:00.000Z',
    ]);
  });

  it('rejects bad fields by name', () => {
    rejectsField(() => cron({ hour: 24 }), 'cron.hour');
    rejectsField(() => cron({ day: '4th xyz' }), 'cron.day');
    rejectsField(() => cron({ day: '6th fri' }), 'cron.day');
    rejectsField(() => cron({ month: 'smarch' }), 'cron.month');
    rejectsField(() => cron({ dayOfWeek: 7 }), 'cron.dayOfWeek');
    rejectsField(() => cron({ minute: '10-5' }), 'cron.minute');
    rejectsField(() => cron({ minute: '*/0' }), 'cron.minute');
    rejectsField(() => cron({ second: '' }), 'cron.second');
    rejectsField(() => cron({ year: 1969 }), 'cron.year');
    rejectsField(() => cron({ hour: 1, timezone: 'Mars/Olympus' }), 'cron.timezone');
    rejectsField(
      () => cron({ hour: 1, startDate: '2024-02-01', endDate: '2024-01-01' }),
      'cron.endDate',
    );
    rejectsField(() => cron({ hours: 3 } as never), 'cron.hours');
  });
});
