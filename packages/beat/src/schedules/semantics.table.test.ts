import { readFileSync } from 'node:fs';
import { isCeleriacError } from '@celeriac/core';
import { describe, expect, it } from 'vitest';
import { compileEntry } from '../entry.js';
import { cron, type CronOptions } from './cron.js';
import { crontab, type CrontabFields, type CrontabOptions } from './crontab.js';
import { interval, type IntervalOptions } from './interval.js';
import { dueAtMs, jitterOffsetMs } from './jitter.js';
import { oneOff, type OneOffOptions } from './one-off.js';
import {
  nextRunAfterMs,
  scheduleFromJSON,
  scheduleToJSON,
  upcomingRuns,
  withDefaultTimezone,
  type Schedule,
} from './schedule.js';

/**
 * The time-zone and cron semantics of docs/beat.md as a table. Two fixtures, neither needing
 * anything at test time:
 * - test-fixtures/apscheduler-reference.json: APScheduler 3.9.1's own run times (written by
 *   test-fixtures/apscheduler-reference.py); a row where Celeriac differs on purpose carries
 *   `expected` and `differs` (why).
 * - test-fixtures/vixie-reference.json: Vixie / Debian cron's rules, written by hand from the
 *   man pages (the file says which).
 */

interface Call {
  fn: 'interval' | 'cron' | 'crontab' | 'oneOff';
  args: unknown[];
}
interface Row {
  id: string;
  what: string;
  kind?: 'rule' | 'jitter';
  celeriac: Call;
  after: string;
  count: number;
  defaultTimezone?: string;
  apscheduler?: string[];
  expected?: string[];
  differs?: string;
  apschedulerObserved?: [number, number];
  expectedBounds?: [number, number];
}

const load = (name: string): { rows: Row[]; apscheduler?: string; reference?: string } =>
  JSON.parse(readFileSync(new URL(`../../test-fixtures/${name}`, import.meta.url), 'utf8')) as {
    rows: Row[];
  };

const aps = load('apscheduler-reference.json');
const vixie = load('vixie-reference.json');

function build({ fn, args }: Call): Schedule {
  switch (fn) {
    case 'interval':
      return interval(args[0] as IntervalOptions);
    case 'cron':
      return cron(args[0] as CronOptions);
    case 'crontab':
      return crontab(args[0] as string | CrontabFields, args[1] as CrontabOptions | undefined);
    case 'oneOff':
      return oneOff(args[0] as string, args[1] as OneOffOptions | undefined);
  }
}

const runs = (s: Schedule, after: string, n: number, tz?: string): string[] =>
  upcomingRuns(s, after, n, tz).map((d) => d.toISOString());

/** The row's runs three ways: as built, through stored JSON, and as a beat entry compiles it. */
function check(row: Row, want: string[]): void {
  const s = build(row.celeriac);
  expect(runs(s, row.after, row.count, row.defaultTimezone), row.id).toEqual(want);
  const back = scheduleFromJSON(JSON.parse(JSON.stringify(scheduleToJSON(s))));
  expect(runs(back, row.after, row.count, row.defaultTimezone), `${row.id} (JSON)`).toEqual(want);
  const { definition } = compileEntry(
    { name: row.id, task: 't', schedule: s },
    { timezone: row.defaultTimezone ?? 'UTC' },
  );
  const stored = scheduleFromJSON(definition.schedule);
  expect(runs(stored, row.after, row.count), `${row.id} (entry)`).toEqual(want);
}

describe(`schedules against APScheduler ${aps.apscheduler ?? ''}`, () => {
  const rows = aps.rows.filter((r) => r.kind === undefined);
  it('has the rows', () => expect(rows.length).toBeGreaterThanOrEqual(20));
  it.each(rows.map((r) => [r.id, r] as const))('%s', (_id, row) => {
    expect(row.apscheduler?.length, 'the generator wrote APScheduler runs').toBeGreaterThan(0);
    if (row.expected) {
      // A deliberate difference: the fixture says why, and APScheduler's value is not ours.
      expect(row.differs).toBeTruthy();
      expect(row.expected).not.toEqual(row.apscheduler);
    }
    check(row, row.expected ?? row.apscheduler ?? []);
  });
});

describe('documented rules (computed by the generator with pytz)', () => {
  it.each(aps.rows.filter((r) => r.kind === 'rule').map((r) => [r.id, r] as const))(
    '%s',
    (_id, row) => check(row, row.expected ?? []),
  );
});

describe('Vixie / Debian cron (crontab())', () => {
  it('has the rows', () => expect(vixie.rows.length).toBeGreaterThanOrEqual(25));
  it.each(vixie.rows.map((r) => [r.id, r] as const))('%s', (_id, row) =>
    check(row, row.expected ?? []),
  );
});

describe('jitter both ways', () => {
  const rows = aps.rows.filter((r) => r.kind === 'jitter');
  it.each(rows.map((r) => [r.id, r] as const))('%s', (_id, row) => {
    const s = build(row.celeriac);
    const [lo = 0, hi = 0] = row.expectedBounds ?? [];
    // APScheduler 3.9.1 only delays (the fixture records its draws); Celeriac moves both ways.
    expect(row.apschedulerObserved?.[0]).toBeGreaterThanOrEqual(0);
    const times = upcomingRuns(s, row.after, row.count).map((d) => d.getTime());
    const offsets = times.map((t) => jitterOffsetMs(s, 'entry', t) / 1000);
    expect(Math.min(...offsets)).toBeGreaterThanOrEqual(lo);
    expect(Math.max(...offsets)).toBeLessThanOrEqual(hi);
    expect(Math.min(...offsets)).toBeLessThan(lo / 2); // it does reach well below zero
    expect(Math.max(...offsets)).toBeGreaterThan(hi / 2);
    // Due times increase strictly, and each is after the previous run's scheduled time.
    times.forEach((t, i) => {
      const due = dueAtMs(s, 'entry', t);
      const prev = times[i - 1];
      if (prev !== undefined) {
        expect(due).toBeGreaterThan(dueAtMs(s, 'entry', prev));
        expect(due).toBeGreaterThan(prev);
      }
      // The same whether the neighbours are given (as planTicks does) or looked up.
      expect(
        jitterOffsetMs(s, 'entry', t, {
          previous: prev ?? nextRunAfterMs(s, t - 3_600_000) ?? null,
          next: times[i + 1] ?? nextRunAfterMs(s, t) ?? null,
        }),
      ).toBe(jitterOffsetMs(s, 'entry', t));
    });
    // Deterministic: a hash of the entry and the run, different for another entry.
    const other = times.map((t) => jitterOffsetMs(s, 'other', t));
    expect(other).not.toEqual(offsets.map((o) => o * 1000));
  });

  it('a jitter far longer than the period is capped by the neighbours (bisection path)', () => {
    const s = interval({ seconds: 1, jitter: 3600 });
    const t = Date.parse('2025-01-01T00:00:00Z');
    for (let k = 0; k < 20; k++) {
      const o = jitterOffsetMs(s, 'e', t + k * 1000);
      expect(Math.abs(o)).toBeLessThanOrEqual(499);
    }
    expect(jitterOffsetMs(s, 'e', t, { previous: t - 1000, next: t + 1000 })).toBe(
      jitterOffsetMs(s, 'e', t),
    );
  });

  it('the first run of a startDate has no previous run: only the next one caps it', () => {
    const s = interval({ minutes: 10, startDate: '2025-01-01T00:00:00Z', jitter: 120 });
    const first = Date.parse('2025-01-01T00:00:00Z');
    const offsets = Array.from({ length: 30 }, (_, i) => jitterOffsetMs(s, `e${i}`, first));
    expect(Math.min(...offsets)).toBeLessThan(-60_000); // earlier than the startDate is allowed
    for (const o of offsets) expect(Math.abs(o)).toBeLessThanOrEqual(120_000);
  });
});

describe('offset-less dates', () => {
  it('stay wall times until the schedule has a zone, then become instants', () => {
    const s = interval({ hours: 1, startDate: '2025-01-10 09:30' });
    expect(s.startDate).toBe('2025-01-10T09:30:00');
    expect(runs(s, '2025-01-10T00:00:00Z', 1, 'Asia/Tokyo')).toEqual(['2025-01-10T00:30:00.000Z']);
    const resolved = withDefaultTimezone(s, 'Asia/Tokyo');
    expect(resolved).toMatchObject({ startDate: Date.parse('2025-01-10T00:30:00Z') });
    expect('timezone' in resolved).toBe(false); // the grid does not take the entry's zone
    const e = withDefaultTimezone(
      crontab('0 9 * * *', { endDate: '2025-01-12', startDate: '2025-01-10 09:00:00' }),
      'Europe/Paris',
    );
    expect(e).toMatchObject({
      timezone: 'Europe/Paris',
      startDate: Date.parse('2025-01-10T08:00:00Z'),
      endDate: Date.parse('2025-01-11T23:00:00Z'),
    });
  });

  it('are read in the zone whichever comes first in an every() chain', async () => {
    const { every } = await import('./every.js');
    const a = every().day().at('10:00').until('2025-01-12 10:00:00').in('Asia/Tokyo');
    const b = every().day().at('10:00', 'Asia/Tokyo').until('2025-01-12 10:00:00');
    expect(a.endDate).toBe(Date.parse('2025-01-12T01:00:00Z'));
    expect(b.endDate).toBe(a.endDate);
  });

  it('refuse what is not a date, naming the field', () => {
    for (const bad of ['2025-13-01 00:00:00', '2025-02-30', '2025-01-10 24:00:00', 'soon', '']) {
      let caught: unknown;
      try {
        oneOff(bad);
      } catch (err) {
        caught = err;
      }
      expect(isCeleriacError(caught, 'CELERIAC_ERR_INVALID_SCHEDULE'), bad).toBe(true);
    }
    expect(() => interval({ hours: 1, startDate: 'later' })).toThrow(/interval\.startDate/);
    expect(() => oneOff('2025-01-10', { timezone: 'Mars/Olympus' })).toThrow(/oneOff\.timezone/);
    expect(() => oneOff('2025-01-10', { zone: 'UTC' } as never)).toThrow(/zone/);
  });
});

describe('dayMatch', () => {
  it('is validated strictly', () => {
    for (const bad of ['either', 'both', 'and', 'OR', 1]) {
      let caught: unknown;
      try {
        crontab('0 0 1 * 1', { dayMatch: bad as never });
      } catch (err) {
        caught = err;
      }
      expect(isCeleriacError(caught, 'CELERIAC_ERR_INVALID_SCHEDULE'), String(bad)).toBe(true);
      expect((caught as Error).message).toMatch(/"vixie", "celery", "or"/);
    }
  });

  it('stored schedules of earlier releases load with the behaviour they were stored with', () => {
    const either = scheduleFromJSON({
      kind: 'crontab',
      expression: '0 0 */2 * 1',
      dayMatch: 'either',
    });
    expect(either).toMatchObject({ dayMatch: 'or' });
    const both = scheduleFromJSON({ kind: 'crontab', expression: '0 0 1-7 * 1', dayMatch: 'both' });
    expect(both).toMatchObject({ dayMatch: 'celery' });
    expect(runs(both, '2024-01-31T00:00:00Z', 1)).toEqual(['2024-02-05T00:00:00.000Z']);
    const bare = scheduleFromJSON({ kind: 'crontab', expression: '0 0 */2 * 1' });
    expect(bare).toMatchObject({ dayMatch: 'vixie' });
    expect(() =>
      scheduleFromJSON({ kind: 'crontab', expression: '* * * * *', dayMatch: 'x' }),
    ).toThrow(/schedule\.dayMatch/);
    // An interval or one-off stored before `timezone` existed is unchanged.
    const old = scheduleFromJSON({
      kind: 'interval',
      everyMs: 3_600_000,
      startDate: 1_736_501_400_000,
    });
    expect(old).toEqual(interval({ hours: 1, startDate: 1_736_501_400_000 }));
    expect(scheduleFromJSON({ kind: 'oneOff', at: 5000 })).toEqual(oneOff(5000));
  });
});
