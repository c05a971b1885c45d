import { isCeleriacError } from '@celeriac/core';
import { describe, expect, it } from 'vitest';
import { every } from './every.js';
import { scheduleFromJSON, scheduleToJSON, upcomingRuns, type Schedule } from './schedule.js';

const runs = (s: Schedule, from: string, n: number): string[] =>
  upcomingRuns(s, from, n).map((d) => d.toISOString());

describe("every(): the schedule library's fluent form", () => {
  it('every(10).minutes() and every().hour() are elapsed time on the epoch grid', () => {
    expect(runs(every(10).minutes(), '2024-01-01T00:03:00Z', 2)).toEqual([
      '2024-01-01T00:10:00.000Z',
      '2024-01-01T00:20:00.000Z',
    ]);
    expect(runs(every().hour(), '2024-01-01T00:03:00Z', 2)).toEqual([
      '2024-01-01T01:00:00.000Z',
      '2024-01-01T02:00:00.000Z',
    ]);
    expect(runs(every(30).seconds(), '2024-01-01T00:00:01Z', 2)).toEqual([
      '2024-01-01T00:00:30.000Z',
      '2024-01-01T00:01:00.000Z',
    ]);
  });

  it("every().day().at('10:30') is wall-clock time in its zone", () => {
    expect(runs(every().day().at('10:30'), '2024-01-01T11:00:00Z', 2)).toEqual([
      '2024-01-02T10:30:00.000Z',
      '2024-01-03T10:30:00.000Z',
    ]);
    const paris = every().day().at('10:30', 'Europe/Paris');
    expect(runs(paris, '2024-03-30T00:00:00Z', 3)).toEqual([
      '2024-03-30T09:30:00.000Z',
      '2024-03-31T08:30:00.000Z',
      '2024-04-01T08:30:00.000Z',
    ]);
    expect(runs(every().day(), '2024-01-01T11:00:00Z', 1)).toEqual(['2024-01-02T00:00:00.000Z']);
    // Every third day counted from 1970-01-01: 2024-01-03 is day 19725, a multiple of 3.
    expect(runs(every(3).days().at('06:00'), '2024-01-01T00:00:00Z', 2)).toEqual([
      '2024-01-03T06:00:00.000Z',
      '2024-01-06T06:00:00.000Z',
    ]);
  });

  it('weekdays: every().monday(), every().wednesday().at("13:15")', () => {
    expect(runs(every().monday(), '2024-01-01T00:00:00Z', 2)).toEqual([
      '2024-01-08T00:00:00.000Z',
      '2024-01-15T00:00:00.000Z',
    ]);
    expect(runs(every().wednesday().at('13:15'), '2024-01-01T00:00:00Z', 2)).toEqual([
      '2024-01-03T13:15:00.000Z',
      '2024-01-10T13:15:00.000Z',
    ]);
    expect(
      runs(every().sunday().at('23:59:30').in('America/New_York'), '2024-01-01T00:00:00Z', 1),
    ).toEqual(['2024-01-01T04:59:30.000Z']); // Sunday 31 Dec, 23:59:30 EST
    expect(runs(every(2).weeks(), '2024-01-01T00:00:00Z', 2)).toEqual([
      '2024-01-08T00:00:00.000Z',
      '2024-01-22T00:00:00.000Z',
    ]);
  });

  it('hours and minutes with .at()', () => {
    expect(runs(every().hour().at(':15'), '2024-01-01T00:20:00Z', 2)).toEqual([
      '2024-01-01T01:15:00.000Z',
      '2024-01-01T02:15:00.000Z',
    ]);
    expect(runs(every(2).hours().at('30:10'), '2024-01-01T00:00:00Z', 2)).toEqual([
      '2024-01-01T00:30:10.000Z',
      '2024-01-01T02:30:10.000Z',
    ]);
    expect(runs(every().minute().at(':17'), '2024-01-01T00:00:20Z', 2)).toEqual([
      '2024-01-01T00:01:17.000Z',
      '2024-01-01T00:02:17.000Z',
    ]);
  });

  it('every(5).to(10).days() draws a deterministic interval between 5 and 10 days', () => {
    const s = every(5).to(10).days();
    const r = upcomingRuns(s, '2024-01-01T00:00:00Z', 20).map((d) => d.getTime());
    let prev = Date.parse('2024-01-01T00:00:00Z');
    const gaps = r.map((t) => {
      const g = (t - prev) / 86_400_000;
      prev = t;
      return g;
    });
    for (const g of gaps) expect(g >= 5 && g <= 10 && Number.isInteger(g)).toBe(true);
    expect(new Set(gaps).size).toBeGreaterThan(1);
    expect(upcomingRuns(s, '2024-01-01T00:00:00Z', 20).map((d) => d.getTime())).toEqual(r); // the same on every beat
  });

  it('.until(date) ends the schedule', () => {
    expect(
      runs(every().day().at('12:00').until('2024-01-03T00:00:00Z'), '2024-01-01T00:00:00Z', 5),
    ).toEqual(['2024-01-01T12:00:00.000Z', '2024-01-02T12:00:00.000Z']);
  });

  it('is immutable, and stores as plain data', () => {
    const base = every().day();
    const at = base.at('10:30');
    expect(base.time).toBeUndefined();
    expect(scheduleToJSON(at)).toEqual({
      kind: 'every',
      interval: 1,
      unit: 'days',
      time: '10:30:00',
    });
    expect(runs(scheduleFromJSON(scheduleToJSON(at)), '2024-01-01T00:00:00Z', 1)).toEqual([
      '2024-01-01T10:30:00.000Z',
    ]);
  });

  it('rejects what the schedule library rejects', () => {
    const bad: (() => unknown)[] = [
      () => every(2).hour(),
      () => every(2).monday(),
      () => every(0).minutes(),
      () => every(5).to(3).days(),
      () => every().day().at('25:00'),
      () => every().hour().at('10:30:00'),
      () => every().minute().at('12'),
      () => every(10).seconds().at(':10'),
      () => every().day().at('10:30', 'Nowhere/City'),
    ];
    for (const fn of bad) {
      let caught: unknown;
      try {
        fn();
      } catch (err) {
        caught = err;
      }
      expect(isCeleriacError(caught, 'CELERIAC_ERR_INVALID_SCHEDULE'), String(fn)).toBe(true);
    }
  });
});
