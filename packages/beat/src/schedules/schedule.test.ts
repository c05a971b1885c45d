import { describe, expect, it } from 'vitest';
import { cron } from './cron.js';
import { crontab } from './crontab.js';
import { every } from './every.js';
import { interval } from './interval.js';
import { oneOff } from './one-off.js';
import {
  describeSchedule,
  nextRunAfter,
  scheduleFromJSON,
  scheduleToJSON,
  upcomingRuns,
  withDefaultTimezone,
  type Schedule,
} from './schedule.js';
import { solar } from './solar.js';
import { checkTimeZone, resolveWall } from './wall-clock.js';

const all: Schedule[] = [
  interval({ minutes: 5, startDate: '2024-01-01T00:00:00Z', jitter: 3 }),
  crontab('0 3 * * 1-5', { timezone: 'Europe/London', endDate: '2030-01-01T00:00:00Z' }),
  crontab({ minute: 0, hour: 0, dayOfWeek: 'mon', dayOfMonth: '1-7' }),
  cron({ day: '3rd fri', hour: 9, timezone: 'America/New_York' }),
  oneOff('2030-01-01T00:00:00Z'),
  solar('sunset', 48.85, 2.35),
  every().wednesday().at('13:15', 'Asia/Tokyo').until('2031-01-01T00:00:00Z'),
  every(5).to(10).days(),
];

describe('schedules as data', () => {
  it.each(all.map((s) => [describeSchedule(s), s] as const))(
    '%s survives JSON and computes the same runs',
    (_name, s) => {
      const back = scheduleFromJSON(JSON.parse(JSON.stringify(scheduleToJSON(s))));
      expect(scheduleToJSON(back)).toEqual(scheduleToJSON(s));
      expect(upcomingRuns(back, '2024-01-01T00:00:00Z', 5)).toEqual(
        upcomingRuns(s, '2024-01-01T00:00:00Z', 5),
      );
    },
  );

  it('rejects unknown kinds and malformed JSON', () => {
    expect(() => scheduleFromJSON({ kind: 'lunar' })).toThrow(/unknown schedule kind/);
    expect(() => scheduleFromJSON(null)).toThrow(/must be an object/);
    expect(() => scheduleFromJSON({ kind: 'crontab', expression: 5 })).toThrow(
      /schedule\.expression/,
    );
  });

  it('a wall-clock schedule without a zone takes the default one; one with a zone keeps it', () => {
    const s = withDefaultTimezone(crontab('0 9 * * *'), 'Asia/Tokyo');
    expect(nextRunAfter(s, '2024-01-01T00:00:00Z')?.toISOString()).toBe('2024-01-02T00:00:00.000Z');
    const own = withDefaultTimezone(
      crontab('0 9 * * *', { timezone: 'Europe/Paris' }),
      'Asia/Tokyo',
    );
    expect(nextRunAfter(own, '2024-01-01T00:00:00Z')?.toISOString()).toBe(
      '2024-01-01T08:00:00.000Z',
    );
    expect(withDefaultTimezone(interval(60), 'Asia/Tokyo')).toEqual(interval(60));
    const e = withDefaultTimezone(every().day().at('09:00'), 'Asia/Tokyo');
    expect(nextRunAfter(e, '2024-01-01T01:00:00Z')?.toISOString()).toBe('2024-01-02T00:00:00.000Z');
  });

  it('a nextRunAfter in the README example', () => {
    const t = nextRunAfter(
      crontab('30 2 * * *', { timezone: 'America/New_York' }),
      new Date('2025-03-09T00:00:00Z'),
    );
    // 02:30 does not exist that day: a fixed-time crontab job runs at the change (Vixie cron).
    expect(t?.toISOString()).toBe('2025-03-09T07:00:00.000Z');
  });
});

describe('wall clock', () => {
  it('resolves a wall time to one instant, a gap or an overlap', () => {
    expect(resolveWall(Date.UTC(2024, 0, 15, 12), 'Europe/London')).toEqual({
      kind: 'single',
      instant: Date.UTC(2024, 0, 15, 12),
    });
    expect(resolveWall(Date.UTC(2024, 2, 31, 1, 30), 'Europe/London')).toEqual({
      kind: 'gap',
      instant: Date.UTC(2024, 2, 31, 1, 30),
      transition: Date.UTC(2024, 2, 31, 1, 0),
    });
    expect(resolveWall(Date.UTC(2024, 9, 27, 1, 30), 'Europe/London')).toEqual({
      kind: 'overlap',
      earlier: Date.UTC(2024, 9, 27, 0, 30),
      later: Date.UTC(2024, 9, 27, 1, 30),
    });
    // Lord Howe Island moves its clocks by 30 minutes: 02:00 → 02:30 in October, 02:00 → 01:30 in April.
    expect(resolveWall(Date.UTC(2024, 9, 6, 2, 15), 'Australia/Lord_Howe')).toMatchObject({
      kind: 'gap',
    });
    expect(resolveWall(Date.UTC(2024, 3, 7, 1, 45), 'Australia/Lord_Howe')).toEqual({
      kind: 'overlap',
      earlier: Date.UTC(2024, 3, 6, 14, 45),
      later: Date.UTC(2024, 3, 6, 15, 15),
    });
  });

  it('checks time-zone names', () => {
    expect(checkTimeZone('Europe/London')).toBe('Europe/London');
    expect(() => checkTimeZone('Europe/Atlantis')).toThrow(/not an IANA time-zone name/);
    expect(() => checkTimeZone('')).toThrow(/IANA/);
  });
});
