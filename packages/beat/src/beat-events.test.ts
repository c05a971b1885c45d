import { Celeriac } from '@celeriac/client';
import { ManualClock, silentLogger, type Logger } from '@celeriac/core';
import { Worker } from '@celeriac/worker';
import { afterEach, describe, expect, it } from 'vitest';
import { Beat, type BeatApp, type BeatOptions } from './beat.js';
import { BeatEntries } from './beat-entries.js';
import { compileEntry, runTaskId, type BeatEntry } from './entry.js';
import type { BeatEventMap, BeatEventName } from './events.js';
import { interval } from './schedules/interval.js';
import { MemoryScheduleStore } from './store/memory-schedule-store.js';

const T0 = Date.parse('2030-01-01T00:00:00Z');
const MIN = 60_000;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A logger that keeps the warnings, to check one is logged once. */
function warnings(): { logger: Logger; messages: string[] } {
  const messages: string[] = [];
  const logger: Logger = {
    ...silentLogger,
    warn: (a: unknown, b?: string) => void messages.push(typeof a === 'string' ? a : (b ?? '')),
    child: () => logger,
  };
  return { logger, messages };
}

/** Every event a beat emits, in order, as `[name, payload]`. */
function record(beat: Beat | BeatEntries): [BeatEventName, unknown][] {
  const seen: [BeatEventName, unknown][] = [];
  const names: BeatEventName[] = [
    'submitted',
    'executed',
    'error',
    'missed',
    'maxInstances',
    'added',
    'removed',
    'modified',
    'paused',
    'resumed',
  ];
  for (const name of names) beat.on(name, (e) => seen.push([name, e]));
  return seen;
}

/** An app on memory:// with a real worker in this process; `gate` holds `tasks.slow` until opened. */
async function setup(entries: BeatEntry[], options: BeatOptions = {}, withWorker = true) {
  const app = new Celeriac({
    broker: `memory://beat-ev-${Math.random().toString(36).slice(2)}`,
    logger: silentLogger,
  });
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (open = resolve));
  app.task('tasks.ok', (x: number) => x * 2);
  app.task('tasks.boom', () => {
    throw new TypeError('no good');
  });
  app.task('tasks.slow', async () => {
    await gate;
    return 'slow done';
  });
  const worker = new Worker(app, { concurrency: 4 });
  if (withWorker) await worker.start();
  const clock = new ManualClock(T0 + 1);
  const store = new MemoryScheduleStore();
  const beat = new Beat(app, { entries, store, clock, ...options });
  cleanups.push(async () => {
    await beat.close();
    if (withWorker) await worker.shutdown({ timeout: 1 });
    await app.close();
  });
  await beat.syncEntries();
  const seen = record(beat);
  /** Waits for a run's result (the worker's), however it ended. */
  const finished = async (scheduledAt: number, entry = entries[0]?.name ?? ''): Promise<void> => {
    await app
      .asyncResult(runTaskId('default', entry, scheduledAt))
      .get({ timeout: 10, propagate: false });
  };
  return { app, clock, beat, store, seen, finished, open: () => open() };
}

const names = (seen: [BeatEventName, unknown][]): BeatEventName[] => seen.map(([n]) => n);
const of = <K extends BeatEventName>(
  seen: [BeatEventName, unknown][],
  name: K,
): BeatEventMap[K][] => seen.filter(([n]) => n === name).map(([, e]) => e as BeatEventMap[K]);

describe('beat events with a real worker on memory://', () => {
  it('submitted when a run is published, executed once when its task succeeds', async () => {
    const entry = { name: 'double', task: 'tasks.ok', schedule: interval(60), args: [21] };
    const { clock, beat, seen, finished } = await setup([entry]);
    await beat.tick();
    expect(seen).toEqual([]);
    clock.set(T0 + MIN);
    await beat.tick();
    const run = {
      entry: 'double',
      task: 'tasks.ok',
      taskId: runTaskId('default', 'double', T0 + MIN),
      scheduledAt: new Date(T0 + MIN),
    };
    expect(seen).toEqual([['submitted', run]]);
    await finished(T0 + MIN);
    clock.advance(1000);
    await beat.tick();
    expect(seen).toEqual([
      ['submitted', run],
      ['executed', { ...run, result: 42 }],
    ]);
    clock.advance(1000);
    await beat.tick();
    expect(names(seen)).toEqual(['submitted', 'executed']);
  });

  it('error when a run fails, with the exception type, message and traceback', async () => {
    const entry = { name: 'fails', task: 'tasks.boom', schedule: interval(60) };
    const { clock, beat, seen, finished } = await setup([entry]);
    clock.set(T0 + MIN);
    await beat.tick();
    await finished(T0 + MIN);
    clock.advance(1000);
    await beat.tick();
    expect(names(seen)).toEqual(['submitted', 'error']);
    const [error] = of(seen, 'error');
    expect(error).toMatchObject({
      entry: 'fails',
      taskId: runTaskId('default', 'fails', T0 + MIN),
      error: { type: 'TypeError', message: 'no good' },
    });
    expect(error?.error.traceback).toContain('no good');
  });

  it('missed for runs a paused beat skipped: coalesced ones, and one later than misfireGraceTime', async () => {
    const entry = {
      name: 'graceful',
      task: 'tasks.ok',
      schedule: interval(60),
      args: [1],
      misfireGraceTime: 10,
    };
    const { clock, beat, seen, finished } = await setup([entry]);
    clock.set(T0 + MIN + 5_000); // 5 s late: within the grace
    await beat.tick();
    expect(names(seen)).toEqual(['submitted']);
    await finished(T0 + MIN);
    // The beat does not tick for three more periods, and then comes 30 s late.
    clock.set(T0 + 4 * MIN + 30_000);
    await beat.tick();
    const missed = of(seen, 'missed').map((m) => [m.scheduledAt.getTime(), m.reason]);
    expect(missed).toEqual([
      [T0 + 2 * MIN, 'coalesced'],
      [T0 + 3 * MIN, 'coalesced'],
      [T0 + 4 * MIN, 'misfire'],
    ]);
    expect(of(seen, 'missed')[0]).toMatchObject({ entry: 'graceful', task: 'tasks.ok' });
    expect(of(seen, 'submitted')).toHaveLength(1);
    // The next on-time run goes out as usual.
    clock.set(T0 + 5 * MIN);
    await beat.tick();
    expect(of(seen, 'submitted').map((s) => s.scheduledAt.getTime())).toEqual([
      T0 + MIN,
      T0 + 5 * MIN,
    ]);
  });

  it('missed with reason dropped for runs beyond catchUpLimit', async () => {
    const entry = {
      name: 'catching-up',
      task: 'tasks.ok',
      schedule: interval(60),
      args: [1],
      catchUp: true,
      catchUpLimit: 2,
      maxInstances: 3,
    };
    const { clock, beat, seen } = await setup([entry]);
    clock.set(T0 + 4 * MIN);
    await beat.tick();
    expect(of(seen, 'missed').map((m) => [m.scheduledAt.getTime(), m.reason])).toEqual([
      [T0 + MIN, 'dropped'],
      [T0 + 2 * MIN, 'dropped'],
    ]);
    expect(of(seen, 'submitted').map((s) => s.scheduledAt.getTime())).toEqual([
      T0 + 3 * MIN,
      T0 + 4 * MIN,
    ]);
  });

  it('maxInstances: a run is skipped while the previous one still runs, and goes once it ended', async () => {
    const entry = { name: 'slow', task: 'tasks.slow', schedule: interval(60) };
    const { clock, beat, store, seen, finished, open } = await setup([entry]);
    clock.set(T0 + MIN);
    await beat.tick();
    clock.set(T0 + 2 * MIN);
    await beat.tick();
    expect(names(seen)).toEqual(['submitted', 'maxInstances']);
    expect(of(seen, 'maxInstances')[0]).toEqual({
      entry: 'slow',
      task: 'tasks.slow',
      taskId: runTaskId('default', 'slow', T0 + 2 * MIN),
      scheduledAt: new Date(T0 + 2 * MIN),
      running: 1,
      maxInstances: 1,
    });
    // The skipped run is not retried: the entry moved on to its next run.
    expect((await store.get('slow'))?.state).toMatchObject({
      nextRunAt: T0 + 3 * MIN,
      totalRunCount: 1,
      recentRuns: [T0 + MIN],
    });
    open();
    await finished(T0 + MIN);
    clock.set(T0 + 3 * MIN);
    await beat.tick();
    expect(names(seen)).toEqual(['submitted', 'maxInstances', 'executed', 'submitted']);
    expect(of(seen, 'submitted')[1]?.scheduledAt).toEqual(new Date(T0 + 3 * MIN));
  });

  it('maxInstances: 2 lets two runs overlap, not three; the beat-level default applies to entries', async () => {
    const entry = { name: 'slow', task: 'tasks.slow', schedule: interval(60) };
    const { clock, beat, seen } = await setup([entry], { maxInstances: 2 });
    for (let i = 1; i <= 4; i++) {
      clock.set(T0 + i * MIN);
      await beat.tick();
    }
    expect(names(seen)).toEqual(['submitted', 'submitted', 'maxInstances', 'maxInstances']);
    expect(of(seen, 'maxInstances').map((e) => e.running)).toEqual([2, 2]);
  });

  it('maxInstances: null never skips; a run with no result stops counting after maxInstancesTimeout', async () => {
    // No worker: every run stays queued (PENDING) for ever.
    const entries = [
      { name: 'unlimited', task: 'tasks.ok', schedule: interval(60), maxInstances: null },
      { name: 'bounded', task: 'tasks.ok', schedule: interval(60), maxInstancesTimeout: 90 },
    ];
    const { clock, beat, seen } = await setup(entries, {}, false);
    for (let i = 1; i <= 3; i++) {
      clock.set(T0 + i * MIN);
      await beat.tick();
    }
    const sent = (entry: string): number[] =>
      of(seen, 'submitted')
        .filter((s) => s.entry === entry)
        .map((s) => s.scheduledAt.getTime());
    expect(sent('unlimited')).toEqual([T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN]);
    // At +2 min the +1 min run (60 s old) still counts; at +3 min (120 s old) it no longer does.
    expect(sent('bounded')).toEqual([T0 + MIN, T0 + 3 * MIN]);
    expect(of(seen, 'maxInstances').map((e) => [e.entry, e.scheduledAt.getTime()])).toEqual([
      ['bounded', T0 + 2 * MIN],
    ]);
  });

  it('maxInstances: null as the beat-level default lifts the limit of every entry that names none', async () => {
    const entries = [
      { name: 'free', task: 'tasks.ok', schedule: interval(60) },
      { name: 'capped', task: 'tasks.ok', schedule: interval(60), maxInstances: 1 },
    ];
    const { clock, beat, seen } = await setup(entries, { maxInstances: null }, false);
    for (let i = 1; i <= 3; i++) {
      clock.set(T0 + i * MIN);
      await beat.tick();
    }
    expect(of(seen, 'submitted').filter((s) => s.entry === 'free')).toHaveLength(3);
    expect(of(seen, 'submitted').filter((s) => s.entry === 'capped')).toHaveLength(1);
    expect((await beat.entries.get('free'))?.definition.maxInstances).toBeNull();
  });

  it('a listener that throws is logged and the beat goes on', async () => {
    const entry = { name: 'double', task: 'tasks.ok', schedule: interval(60), args: [1] };
    const { clock, beat, seen } = await setup([entry]);
    const thrower = (): void => {
      throw new Error('listener bug');
    };
    beat.on('submitted', thrower);
    clock.set(T0 + MIN);
    expect((await beat.tick()).published).toBe(1);
    expect(names(seen)).toEqual(['submitted']);
    beat.off('submitted', thrower);
    expect(beat.events.listens('submitted')).toBe(true); // the recorder still listens
  });
});

describe('maxInstances without outcomes', () => {
  it('is not enforced when the app cannot report outcomes, with one warning', async () => {
    const sent: string[] = [];
    const app: BeatApp = {
      sendTask: (_task, _args, _kwargs, options) => {
        sent.push(String(options?.headers?.['beat_scheduled_at']));
        return { published: Promise.resolve() };
      },
    };
    const { logger, messages } = warnings();
    const clock = new ManualClock(T0 + 1);
    const beat = new Beat(app, {
      entries: [{ name: 'e', task: 't', schedule: interval(60) }],
      clock,
      logger,
    });
    await beat.syncEntries();
    for (let i = 1; i <= 3; i++) {
      clock.set(T0 + i * MIN);
      await beat.tick();
    }
    await beat.close();
    expect(sent).toHaveLength(3);
    expect(messages.filter((m) => m.includes('maxInstances is not enforced'))).toHaveLength(1);
  });

  it('is not enforced (warned once) for an app with no result backend, nor for an entry that ignores results', async () => {
    const app = new Celeriac({ broker: 'memory://beat-ev-nobackend', backend: false });
    const { logger, messages } = warnings();
    const clock = new ManualClock(T0 + 1);
    const beat = new Beat(app, {
      entries: [{ name: 'e', task: 't', schedule: interval(60) }],
      clock,
      logger,
    });
    cleanups.push(async () => {
      await beat.close();
      await app.close();
    });
    await beat.syncEntries();
    let published = 0;
    for (let i = 1; i <= 3; i++) {
      clock.set(T0 + i * MIN);
      published += (await beat.tick()).published;
    }
    expect(published).toBe(3);
    expect(messages.filter((m) => m.includes('maxInstances is not enforced'))).toHaveLength(1);

    const withBackend = new Celeriac({ broker: 'memory://beat-ev-ignore', logger: silentLogger });
    withBackend.task('tasks.quiet', () => 1, { ignoreResult: true });
    const quiet = new Beat(withBackend, {
      entries: [
        { name: 'q', task: 'tasks.quiet', schedule: interval(60) },
        { name: 'o', task: 'tasks.other', schedule: interval(60), options: { ignoreResult: true } },
      ],
      clock,
      logger,
    });
    cleanups.push(async () => {
      await quiet.close();
      await withBackend.close();
    });
    await quiet.syncEntries();
    messages.length = 0;
    let quietPublished = 0;
    for (let i = 4; i <= 6; i++) {
      clock.set(T0 + i * MIN);
      quietPublished += (await quiet.tick()).published;
    }
    expect(quietPublished).toBe(6);
    expect(messages.filter((m) => m.includes('its task ignores results'))).toHaveLength(2);
  });
});

describe('edit events', () => {
  it('added, modified, paused, resumed, removed: through the beat and through BeatEntries', async () => {
    const clock = new ManualClock(T0);
    const store = new MemoryScheduleStore();
    const app: BeatApp = { sendTask: () => ({ published: Promise.resolve() }) };
    const beat = new Beat(app, {
      entries: [{ name: 'from-config', task: 't', schedule: interval(60) }],
      store,
      clock,
    });
    const seen = record(beat);
    await beat.syncEntries();
    await beat.add({ name: 'a', task: 't', schedule: interval(60) });
    await beat.add({ name: 'a', task: 't', schedule: interval(30) }, { replace: true });
    await beat.pause('a');
    await beat.resume('a');
    await beat.remove('a');
    expect(await beat.remove('a')).toBe(false);
    expect(await beat.pause('nope')).toBe(false);
    expect(seen).toEqual([
      ['added', { entry: 'from-config' }],
      ['added', { entry: 'a' }],
      ['modified', { entry: 'a' }],
      ['paused', { entry: 'a' }],
      ['resumed', { entry: 'a' }],
      ['removed', { entry: 'a' }],
    ]);

    // A BeatEntries of its own (what the CLI uses) has its own events.
    const entries = new BeatEntries(store, { clock });
    const own = record(entries);
    await entries.sync([]); // the config entry is gone from the config: removed
    expect(own).toEqual([['removed', { entry: 'from-config' }]]);
    expect(seen).toHaveLength(6); // the beat's listeners hear only its own edits
    await beat.close();
  });

  it('modify and reschedule through a running beat: one modified each, none for a no-op', async () => {
    const clock = new ManualClock(T0);
    const store = new MemoryScheduleStore();
    const app: BeatApp = { sendTask: () => ({ published: Promise.resolve() }) };
    // A running beat watches its store: its own edits come back as notices of its own origin.
    const beat = new Beat(app, { store, clock, maxLoopInterval: 30, lockTtl: 3600 });
    await beat.start();
    cleanups.push(() => beat.close());
    await beat.add({ name: 'a', task: 't', schedule: interval(60) });
    const seen = record(beat);
    await beat.modify('a', { args: [1] });
    await beat.modify('a', { args: [1] }); // unchanged: nothing written
    await beat.reschedule('a', interval(30));
    await beat.modify('a', { enabled: false });
    expect(seen).toEqual([
      ['modified', { entry: 'a' }],
      ['modified', { entry: 'a' }],
      ['modified', { entry: 'a' }],
    ]);
  });
});

describe('an entry paused by the beat itself', () => {
  it('a stored schedule that no longer compiles pauses the entry and reports it paused', async () => {
    const clock = new ManualClock(T0 + 1);
    const store = new MemoryScheduleStore();
    const app: BeatApp = { sendTask: () => ({ published: Promise.resolve() }) };
    const beat = new Beat(app, { store, clock, logger: silentLogger });
    cleanups.push(() => beat.close());
    // What another version, or a hand edit, could have left in the store.
    const { definition } = compileEntry(
      { name: 'bad', task: 't', schedule: interval(60) },
      {
        timezone: 'UTC',
      },
    );
    const broken = { ...definition, schedule: { kind: 'crontab', expression: 'not a cron' } };
    await store.upsert(
      [
        {
          definition: broken as never,
          hash: 'broken',
          enabled: true,
          source: 'api',
          nextRunAt: T0,
          dueAt: T0,
        },
      ],
      'create',
      T0,
    );
    const seen = record(beat);
    await beat.tick();
    await expect.poll(() => seen).toEqual([['paused', { entry: 'bad' }]]);
    expect((await store.get('bad'))?.state.enabled).toBe(false);
  });
});

describe('missed in recovery', () => {
  it('a claimed run never published, found later than misfireGraceTime, is skipped and reported', async () => {
    let failing = true;
    const app: BeatApp = {
      sendTask: () => ({
        published: failing ? Promise.reject(new Error('broker down')) : Promise.resolve(),
      }),
    };
    const clock = new ManualClock(T0 + 1);
    const beat = new Beat(app, {
      entries: [{ name: 'e', task: 't', schedule: interval(3600), misfireGraceTime: 30 }],
      clock,
      lockTtl: 10,
      logger: silentLogger,
    });
    const seen = record(beat);
    await beat.syncEntries();
    clock.set(T0 + 3_600_000);
    expect((await beat.tick()).published).toBe(0); // claimed, publish failed: pending
    failing = false;
    clock.advance(60_000); // past the grace and the lock TTL
    await beat.tick();
    expect(seen).toEqual([
      ['added', { entry: 'e' }],
      [
        'missed',
        { entry: 'e', task: 't', scheduledAt: new Date(T0 + 3_600_000), reason: 'misfire' },
      ],
    ]);
    await beat.close();
  });
});
