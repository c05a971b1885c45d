import { describe, expect, it } from 'vitest';
import { rejectionOf as errorOf, expectOptionError as expectOption } from '@celeriac/testing';
import { ErrorCodes } from '@celeriac/core';
import {
  Beat,
  beatConfigFrom,
  compileEntry,
  createScheduleStore,
  cron,
  crontab,
  every,
  interval,
  MemoryScheduleStore,
  oneOff,
  parseCrontabFile,
  solar,
  startEmbeddedBeat,
  type BeatEntry,
  type BeatOptions,
  type IntervalOptions,
  type SolarEvent,
} from './index.js';
import { RedisScheduleStore } from './redis/index.js';

const SCHEDULE = ErrorCodes.INVALID_SCHEDULE;
const OPTION = ErrorCodes.INVALID_OPTION;
const app = { sendTask: () => ({ published: Promise.resolve() }) };

describe('schedule constructors', () => {
  it('interval({ hours: 1, minute: 30 }) is refused, not run hourly', async () => {
    const err = await errorOf(() => interval({ hours: 1, minute: 30 } as IntervalOptions));
    expectOption(err, SCHEDULE, 'schedule', 'interval.minute', 'minutes');
    expect(err.details['field']).toBe('interval.minute');
    expect(err.details['value']).toBe(30);
    expect(interval({ hours: 1, minutes: 30 }).everyMs).toBe(5_400_000);
  });

  it('crontab() refuses an unknown field and an unknown option', async () => {
    expectOption(
      await errorOf(() => crontab({ minute: 0, hours: 3 } as never)),
      SCHEDULE,
      'schedule',
      'crontab.hours',
      'hour',
    );
    expectOption(
      await errorOf(() => crontab('0 3 * * *', { timeZone: 'Europe/Paris' } as never)),
      SCHEDULE,
      'schedule',
      'crontab.timeZone',
      'timezone',
    );
  });

  it('cron() refuses an unknown field', async () => {
    expectOption(
      await errorOf(() => cron({ days: 'last' } as never)),
      SCHEDULE,
      'schedule',
      'cron.days',
      'day',
    );
  });

  it('oneOff(), solar() and every() name what is wrong', async () => {
    const date = await errorOf(() => oneOff('next tuesday'));
    expect(date.code).toBe(SCHEDULE);
    expect(date.details['option']).toBe('oneOff.date');
    const sun = await errorOf(() => solar('sunrse' as SolarEvent, 0, 0));
    expect(sun.code).toBe(SCHEDULE);
    expect(sun.details['option']).toBe('solar.event');
    expect(sun.details['suggestion']).toBe('sunrise');
    expect(sun.message).toContain('did you mean "sunrise"?');
    const lat = await errorOf(() => solar('sunrise', 91, 0));
    expect(lat.details['option']).toBe('solar.latitude');
    const count = await errorOf(() => every(0));
    expect(count.code).toBe(SCHEDULE);
    expect(count.details['option']).toBe('every(interval)');
  });
});

describe('beat entries', () => {
  const defaults = { timezone: 'UTC' };
  const entry = { name: 'e', task: 't', schedule: interval(60) };

  it('refuse an unknown key, naming the entry and the nearest key', async () => {
    expectOption(
      await errorOf(() => compileEntry({ ...entry, kwarg: {} } as BeatEntry, defaults)),
      SCHEDULE,
      'beat entry "e"',
      'kwarg',
      'kwargs',
    );
  });

  it('refuse an unknown publish option', async () => {
    expectOption(
      await errorOf(() =>
        compileEntry({ ...entry, options: { expire: 30 } } as BeatEntry, defaults),
      ),
      SCHEDULE,
      'beat entry "e"',
      'options.expire',
      'expires',
    );
  });

  it('maxInstances: an integer 1..16 or null; maxInstancesTimeout: seconds > 0', async () => {
    for (const bad of [0, 1.5, 17, -1, '2', Infinity]) {
      const err = await errorOf(() =>
        compileEntry({ ...entry, maxInstances: bad as number }, defaults),
      );
      expect(err.code).toBe(SCHEDULE);
      expect(err.details['field']).toBe('maxInstances');
      expect(err.message).toContain('must be an integer 1..16');
    }
    for (const bad of [0, -1, '60', NaN]) {
      const err = await errorOf(() =>
        compileEntry({ ...entry, maxInstancesTimeout: bad as number }, defaults),
      );
      expect(err.details['field']).toBe('maxInstancesTimeout');
    }
    expect(compileEntry(entry, defaults).definition).toMatchObject({
      maxInstances: 1,
      maxInstancesTimeout: 86_400,
    });
    expect(
      compileEntry({ ...entry, maxInstances: null, maxInstancesTimeout: 5 }, defaults).definition,
    ).toMatchObject({ maxInstances: null, maxInstancesTimeout: 5 });
    expect(
      compileEntry(entry, { ...defaults, maxInstances: 3, maxInstancesTimeout: 60 }).definition,
    ).toMatchObject({ maxInstances: 3, maxInstancesTimeout: 60 });
  });

  it('from a crontab file are checked when the beat takes them', async () => {
    const [parsed] = parseCrontabFile('*/5 * * * * reports.build\n', 'celeriac.crontab');
    expect(parsed).toBeDefined();
    expectOption(
      await errorOf(
        () => new Beat(app, { entries: [{ ...parsed!, enabeld: false } as BeatEntry] }),
      ),
      SCHEDULE,
      `beat entry "${parsed!.name}"`,
      'enabeld',
      'enabled',
    );
  });

  it('from an app module config are checked, keys and entries', async () => {
    expectOption(
      await errorOf(() => beatConfigFrom({ entries: [], timeZone: 'UTC' }, '--app ./app.js')),
      OPTION,
      '--app ./app.js beat config',
      'timeZone',
      'timezone',
    );
    const config = beatConfigFrom(
      { entries: [{ ...entry, shedule: interval(1) }] },
      '--app ./app.js',
    );
    expectOption(
      await errorOf(() => new Beat(app, { entries: config.entries ?? [] })),
      SCHEDULE,
      'beat entry "e"',
      'shedule',
      'schedule',
    );
  });
});

describe('Beat options', () => {
  it('refuse an unknown key, a wrong type and an out-of-range value', async () => {
    expectOption(
      await errorOf(() => new Beat(app, { lockTTL: 5 } as BeatOptions)),
      OPTION,
      'Beat',
      'lockTTL',
      'lockTtl',
    );
    expectOption(
      // @ts-expect-error not a Beat option
      await errorOf(() => new Beat(app, { maxLoopIntervall: 1 })),
      OPTION,
      'Beat',
      'maxLoopIntervall',
      'maxLoopInterval',
    );
    expectOption(
      await errorOf(() => new Beat(app, { coalesce: 'yes' as never })),
      OPTION,
      'Beat',
      'coalesce',
    );
    expectOption(await errorOf(() => new Beat(app, { lockTtl: 7200 })), OPTION, 'Beat', 'lockTtl');
    for (const maxInstances of [0, 17, 2.5])
      expectOption(
        await errorOf(() => new Beat(app, { maxInstances })),
        OPTION,
        'Beat',
        'maxInstances',
      );
    expectOption(
      await errorOf(() => new Beat(app, { maxInstancesTimeout: 0 })),
      OPTION,
      'Beat',
      'maxInstancesTimeout',
    );
    expectOption(
      await errorOf(() => new Beat(app, { events: 'yes' as never })),
      OPTION,
      'Beat',
      'events',
    );
    expectOption(
      await errorOf(() => new Beat(app, { maxInstance: 2 } as BeatOptions)),
      OPTION,
      'Beat',
      'maxInstance',
      'maxInstances',
    );
    expect(new Beat(app, { maxInstances: null }).options.instances).toEqual({ maxInstances: null });
    const renamed = await errorOf(() => new Beat(app, { lockTtlMs: 10_000 } as BeatOptions));
    expectOption(renamed, OPTION, 'Beat', 'lockTtlMs');
    expect(renamed.details['suggestion']).toBe('lockTtl');
  });

  it('the embedded beat checks its own keys too', async () => {
    expectOption(
      await errorOf(() => startEmbeddedBeat(app, undefined, { storeURL: 'memory://' } as never)),
      OPTION,
      'embedded beat',
      'storeURL',
      'storeUrl',
    );
  });
});

describe('schedule store options', () => {
  it('memory and Redis stores refuse unknown keys, also through createScheduleStore', async () => {
    expectOption(
      await errorOf(() => new MemoryScheduleStore({ maxEntry: 5 } as never)),
      OPTION,
      'MemoryScheduleStore',
      'maxEntry',
      'maxEntries',
    );
    expectOption(
      await errorOf(() => createScheduleStore('memory://', { namespce: 'x' } as never)),
      OPTION,
      'MemoryScheduleStore',
      'namespce',
      'namespace',
    );
    expectOption(
      await errorOf(
        () => new RedisScheduleStore({ url: 'redis://127.0.0.1:1', maxPendng: 5 } as never),
      ),
      OPTION,
      'RedisScheduleStore',
      'maxPendng',
      'maxPending',
    );
  });
});
