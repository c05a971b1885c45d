import { isCeleriacError } from '@celeriac/core';
import { describe, expect, it } from 'vitest';
import { crontab } from './crontab.js';
import { nextRunAfter, upcomingRuns, type Schedule } from './schedule.js';

const runs = (s: Schedule, from: string, n: number): string[] =>
  upcomingRuns(s, from, n).map((d) => d.toISOString());

function rejects(fn: () => unknown, field: string, value: unknown): void {
  try {
    fn();
  } catch (err) {
    expect(isCeleriacError(err, 'CELERIAC_ERR_INVALID_SCHEDULE')).toBe(true);
    expect((err as { details: Record<string, unknown> }).details).toMatchObject({ field, value });
    return;
  }
  throw new Error('expected CELERIAC_ERR_INVALID_SCHEDULE');
}

// Europe/London 2024: clocks go 01:00 GMT → 02:00 BST on 31 March, 02:00 BST → 01:00 GMT on 27 October.
// America/New_York 2024: 02:00 EST → 03:00 EDT on 10 March, 02:00 EDT → 01:00 EST on 3 November.
describe('crontab across DST (wall-clock semantics)', () => {
  // Vixie cron's rules since the crontab() DST semantics became Vixie's (they were Temporal's
  // 'compatible' shift before): a skipped fixed time runs at the change, not shifted by the gap.
  it('London daily 01:30: once on the spring-forward day (at the change, 02:00 BST) and once on the fall-back day (first 01:30)', () => {
    const s = crontab('30 1 * * *', { timezone: 'Europe/London' });
    expect(runs(s, '2024-03-29T12:00:00Z', 4)).toEqual([
      '2024-03-30T01:30:00.000Z', // 01:30 GMT
      '2024-03-31T01:00:00.000Z', // 01:30 does not exist: at the change, 02:00 BST
      '2024-04-01T00:30:00.000Z', // 01:30 BST
      '2024-04-02T00:30:00.000Z',
    ]);
    expect(runs(s, '2024-10-25T12:00:00Z', 4)).toEqual([
      '2024-10-26T00:30:00.000Z', // 01:30 BST
      '2024-10-27T00:30:00.000Z', // 01:30 happens twice: the first (BST) only
      '2024-10-28T01:30:00.000Z', // 01:30 GMT
      '2024-10-29T01:30:00.000Z',
    ]);
  });

  it('New York daily 02:30: 03:00 EDT on the spring-forward day, once on the fall-back day', () => {
    const s = crontab('30 2 * * *', { timezone: 'America/New_York' });
    expect(runs(s, '2024-03-08T12:00:00Z', 3)).toEqual([
      '2024-03-09T07:30:00.000Z',
      '2024-03-10T07:00:00.000Z',
      '2024-03-11T06:30:00.000Z',
    ]);
    expect(runs(s, '2024-11-01T12:00:00Z', 3)).toEqual([
      '2024-11-02T06:30:00.000Z',
      '2024-11-03T07:30:00.000Z',
      '2024-11-04T07:30:00.000Z',
    ]);
  });

  it('New York daily 01:30 runs once in the repeated hour', () => {
    const s = crontab('30 1 * * *', { timezone: 'America/New_York' });
    expect(runs(s, '2024-11-02T12:00:00Z', 2)).toEqual([
      '2024-11-03T05:30:00.000Z',
      '2024-11-04T06:30:00.000Z',
    ]);
  });

  it('two fixed times inside the spring-forward gap make one run at the change', () => {
    const s = crontab('0,30 1 * * *', { timezone: 'Europe/London' });
    expect(runs(s, '2024-03-30T12:00:00Z', 3)).toEqual([
      '2024-03-31T01:00:00.000Z',
      '2024-04-01T00:00:00.000Z',
      '2024-04-01T00:30:00.000Z',
    ]);
  });

  it('an every-hour schedule keeps real time through both changes (both passes of the repeated hour)', () => {
    const london = crontab('*/30 * * * *', { timezone: 'Europe/London' });
    expect(runs(london, '2024-10-26T23:15:00Z', 7)).toEqual([
      '2024-10-26T23:30:00.000Z',
      '2024-10-27T00:00:00.000Z', // 01:00 BST
      '2024-10-27T00:30:00.000Z', // 01:30 BST
      '2024-10-27T01:00:00.000Z', // 01:00 GMT
      '2024-10-27T01:30:00.000Z', // 01:30 GMT
      '2024-10-27T02:00:00.000Z',
      '2024-10-27T02:30:00.000Z',
    ]);
    expect(runs(london, '2024-03-31T00:15:00Z', 4)).toEqual([
      '2024-03-31T00:30:00.000Z',
      '2024-03-31T01:00:00.000Z', // 02:00 BST
      '2024-03-31T01:30:00.000Z',
      '2024-03-31T02:00:00.000Z',
    ]);
    const ny = crontab('0 * * * *', { timezone: 'America/New_York' });
    expect(runs(ny, '2024-03-10T05:30:00Z', 3)).toEqual([
      '2024-03-10T06:00:00.000Z',
      '2024-03-10T07:00:00.000Z',
      '2024-03-10T08:00:00.000Z',
    ]);
    expect(runs(ny, '2024-11-03T04:30:00Z', 4)).toEqual([
      '2024-11-03T05:00:00.000Z', // 01:00 EDT
      '2024-11-03T06:00:00.000Z', // 01:00 EST
      '2024-11-03T07:00:00.000Z',
      '2024-11-03T08:00:00.000Z',
    ]);
  });

  it('is read in UTC without a time zone, and `after` is exclusive', () => {
    const s = crontab('0 3 * * 1-5');
    expect(nextRunAfter(s, '2024-01-01T03:00:00Z')?.toISOString()).toBe('2024-01-02T03:00:00.000Z');
    expect(nextRunAfter(s, '2024-01-01T02:59:59.999Z')?.toISOString()).toBe(
      '2024-01-01T03:00:00.000Z',
    );
  });
});

describe('crontab fields', () => {
  it('steps, ranges and lists', () => {
    expect(runs(crontab('*/20 9-10 * * *'), '2024-01-01T00:00:00Z', 7)).toEqual([
      '2024-01-01T09:00:00.000Z',
      '2024-01-01T09:20:00.000Z',
      '2024-01-01T09:40:00.000Z',
      '2024-01-01T10:00:00.000Z',
      '2024-01-01T10:20:00.000Z',
      '2024-01-01T10:40:00.000Z',
      '2024-01-02T09:00:00.000Z',
    ]);
    expect(runs(crontab('5-20/5 0 1,15 * *'), '2024-01-01T00:00:00Z', 5)).toEqual([
      '2024-01-01T00:05:00.000Z',
      '2024-01-01T00:10:00.000Z',
      '2024-01-01T00:15:00.000Z',
      '2024-01-01T00:20:00.000Z',
      '2024-01-15T00:05:00.000Z',
    ]);
  });

  it('Sunday is 0 or 7, and names work', () => {
    const sundays = ['2024-01-07T12:00:00.000Z', '2024-01-14T12:00:00.000Z'];
    for (const dow of ['0', '7', 'sun', 'SUN', '0,7', 'sun,7'])
      expect(runs(crontab(`0 12 * * ${dow}`), '2024-01-01T00:00:00Z', 2)).toEqual(sundays);
    expect(runs(crontab('0 12 * * 6,7'), '2024-01-01T00:00:00Z', 2)).toEqual([
      '2024-01-06T12:00:00.000Z',
      '2024-01-07T12:00:00.000Z',
    ]);
    expect(runs(crontab('0 12 * * 5-7'), '2024-01-01T00:00:00Z', 3)).toEqual([
      '2024-01-05T12:00:00.000Z',
      '2024-01-06T12:00:00.000Z',
      '2024-01-07T12:00:00.000Z',
    ]);
    expect(runs(crontab('0 0 1 jan-jun/2 *'), '2024-01-01T00:00:00Z', 3)).toEqual([
      '2024-03-01T00:00:00.000Z',
      '2024-05-01T00:00:00.000Z',
      '2025-01-01T00:00:00.000Z',
    ]);
  });

  it('L (last day) and # (nth weekday), via cron-parser', () => {
    expect(runs(crontab('0 0 L * *'), '2024-01-01T00:00:00Z', 3)).toEqual([
      '2024-01-31T00:00:00.000Z',
      '2024-02-29T00:00:00.000Z',
      '2024-03-31T00:00:00.000Z',
    ]);
    expect(runs(crontab('0 9 * * 5#3'), '2024-01-01T00:00:00Z', 2)).toEqual([
      '2024-01-19T09:00:00.000Z',
      '2024-02-16T09:00:00.000Z',
    ]);
  });

  it('a sixth leading field is seconds', () => {
    expect(runs(crontab('*/10 * * * * *'), '2024-01-01T00:00:05Z', 3)).toEqual([
      '2024-01-01T00:00:10.000Z',
      '2024-01-01T00:00:20.000Z',
      '2024-01-01T00:00:30.000Z',
    ]);
  });

  it('string form: a restricted day-of-month OR day-of-week (Vixie, neither starts with *); object form: both (Celery)', () => {
    expect(runs(crontab('0 0 1-7 * mon'), '2024-01-31T00:00:00Z', 3)).toEqual([
      '2024-02-01T00:00:00.000Z',
      '2024-02-02T00:00:00.000Z',
      '2024-02-03T00:00:00.000Z',
    ]);
    const firstMonday = crontab({ minute: 0, hour: 0, dayOfWeek: 'mon', dayOfMonth: '1-7' });
    expect(runs(firstMonday, '2024-01-31T00:00:00Z', 3)).toEqual([
      '2024-02-05T00:00:00.000Z',
      '2024-03-04T00:00:00.000Z',
      '2024-04-01T00:00:00.000Z',
    ]);
  });

  it("Celery's keyword form: numbers, lists, defaults of '*'", () => {
    expect(
      runs(crontab({ minute: [0, 30], hour: 7, dayOfWeek: 'sat,sun' }), '2024-01-01T00:00:00Z', 3),
    ).toEqual(['2024-01-06T07:00:00.000Z', '2024-01-06T07:30:00.000Z', '2024-01-07T07:00:00.000Z']);
    expect(
      runs(
        crontab({ minute: 0, hour: 0, dayOfMonth: 11, monthOfYear: 5 }),
        '2024-01-01T00:00:00Z',
        1,
      ),
    ).toEqual(['2024-05-11T00:00:00.000Z']);
    expect(runs(crontab({}), '2024-01-01T00:00:00Z', 2)).toEqual([
      '2024-01-01T00:01:00.000Z',
      '2024-01-01T00:02:00.000Z',
    ]);
  });

  it('startDate, endDate and predefined expressions', () => {
    const s = crontab('@daily', {
      startDate: '2024-01-03T00:00:00Z',
      endDate: '2024-01-04T00:00:00Z',
    });
    expect(runs(s, '2024-01-01T00:00:00Z', 5)).toEqual([
      '2024-01-03T00:00:00.000Z',
      '2024-01-04T00:00:00.000Z',
    ]);
  });
});

describe('crontab validation names the field and the value', () => {
  it('rejects out-of-range and malformed fields', () => {
    rejects(() => crontab('61 * * * *'), 'minute', '61');
    rejects(() => crontab('* 24 * * *'), 'hour', '24');
    rejects(() => crontab('* * 32 * *'), 'dayOfMonth', '32');
    rejects(() => crontab('* * * 13 *'), 'month', '13');
    rejects(() => crontab('* * * * 8'), 'dayOfWeek', '8');
    rejects(() => crontab('*/0 * * * *'), 'minute', '*/0');
    rejects(() => crontab('5-2 * * * *'), 'minute', '5-2');
    rejects(() => crontab('* * * * fooday'), 'dayOfWeek', 'fooday');
    rejects(() => crontab('* * * *'), 'expression', '* * * *');
    rejects(() => crontab('* * * * * * *'), 'expression', '* * * * * * *');
    rejects(() => crontab({ minute: 60 }), 'minute', '60');
    rejects(() => crontab({ monthOfYear: 13 }), 'monthOfYear', '13');
    rejects(() => crontab({ hour: 'a b' }), 'crontab.hour', 'a b');
    rejects(
      () => crontab('0 0 * * *', { timezone: 'Europe/Londn' }),
      'crontab.timezone',
      'Europe/Londn',
    );
    expect(() => crontab('61 * * * *')).toThrow(/minute field "61"/);
  });
});
