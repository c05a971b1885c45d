import { isCeleriacError, ManualClock } from '@celeriac/core';
import type { ApplyOptions } from '@celeriac/client';
import { describe, expect, it } from 'vitest';
import { Beat, type BeatApp, type BeatOptions } from './beat.js';
import { runTaskId, type BeatEntry } from './entry.js';
import { crontab } from './schedules/crontab.js';
import { interval } from './schedules/interval.js';
import { oneOff } from './schedules/one-off.js';
import { MemoryScheduleStore } from './store/memory-schedule-store.js';

interface Sent {
  task: string;
  args: readonly unknown[];
  kwargs: Record<string, unknown>;
  options: ApplyOptions;
}

/** An app that records what beat publishes; `failing` makes publishes reject. */
class FakeApp implements BeatApp {
  readonly sent: Sent[] = [];
  failing = false;
  sendTask(
    task: string,
    args: readonly unknown[] = [],
    kwargs: Record<string, unknown> = {},
    options: ApplyOptions = {},
  ): { published: Promise<void> } {
    if (this.failing) return { published: Promise.reject(new Error('broker down')) };
    this.sent.push({ task, args, kwargs, options });
    return { published: Promise.resolve() };
  }
  /** Scheduled times published per entry, as ISO strings. */
  runs(entry?: string): string[] {
    return this.sent
      .filter((s) => entry === undefined || s.options.headers?.['beat_entry'] === entry)
      .map((s) => String(s.options.headers?.['beat_scheduled_at']));
  }
}

const T0 = Date.parse('2024-01-01T00:00:00Z');
const at = (ms: number): string => new Date(ms).toISOString();
const everyMinute: BeatEntry = {
  name: 'minutely',
  task: 'tasks.tick',
  schedule: interval({ minutes: 1 }),
  args: [1],
  kwargs: { k: 'v' },
  options: { queue: 'q', expires: 30 },
};

function setup(options: BeatOptions = {}, start = T0 + 1) {
  const clock = new ManualClock(start);
  const app = new FakeApp();
  const store = options.store ?? new MemoryScheduleStore();
  const beat = new Beat(app, { entries: [everyMinute], store, clock, ...options });
  return { clock, app, store, beat };
}

describe('Beat on an injected clock', () => {
  it('enqueues a due run once, with a task id derived from (entry, scheduled time)', async () => {
    const { clock, app, beat } = setup();
    await beat.syncEntries();
    expect((await beat.tick()).published).toBe(0);
    expect(app.sent).toHaveLength(0);
    clock.set(T0 + 60_000);
    const r = await beat.tick();
    expect(r).toMatchObject({ role: 'leader', published: 1 });
    expect(app.sent[0]).toEqual({
      task: 'tasks.tick',
      args: [1],
      kwargs: { k: 'v' },
      options: {
        queue: 'q',
        expires: 30,
        taskId: runTaskId('default', 'minutely', T0 + 60_000),
        headers: { beat_entry: 'minutely', beat_scheduled_at: at(T0 + 60_000) },
      },
    });
    expect((await beat.tick()).published).toBe(0);
    clock.advance(59_999);
    expect((await beat.tick()).published).toBe(0);
    clock.advance(1);
    expect((await beat.tick()).published).toBe(1);
    expect(app.runs()).toEqual([at(T0 + 60_000), at(T0 + 120_000)]);
    const stored = await beat.entries.get('minutely');
    expect(stored?.state).toMatchObject({
      lastRunAt: T0 + 120_000,
      nextRunAt: T0 + 180_000,
      totalRunCount: 2,
    });
  });

  it('sleeps until the next due run, or maxLoopInterval, whichever is first', async () => {
    const { clock, beat } = setup({ maxLoopInterval: 5 });
    await beat.syncEntries();
    clock.set(T0 + 58_000);
    expect((await beat.tick()).sleepMs).toBe(2000);
    clock.set(T0 + 30_000);
    expect((await beat.tick()).sleepMs).toBe(5000);
  });

  it('two beats on one store: only the leader enqueues, and a follower takes over once the lock expires', async () => {
    const store = new MemoryScheduleStore();
    const clock = new ManualClock(T0 + 1);
    const appA = new FakeApp();
    const appB = new FakeApp();
    const beatA = new Beat(appA, { entries: [everyMinute], store, clock, id: 'a', lockTtl: 10 });
    const beatB = new Beat(appB, { entries: [everyMinute], store, clock, id: 'b', lockTtl: 10 });
    await beatA.syncEntries();
    await beatB.syncEntries();
    expect((await beatA.tick()).role).toBe('leader');
    const follow = await beatB.tick();
    expect(follow.role).toBe('follower');
    expect(follow.sleepMs).toBeGreaterThan(9000); // it wakes when the lock would expire
    expect(follow.sleepMs).toBeLessThanOrEqual(10_005);
    for (let t = 1; t <= 5; t++) {
      clock.set(T0 + t * 60_000);
      await beatA.tick();
      await beatB.tick();
    }
    expect(appA.runs()).toHaveLength(5);
    expect(appB.sent).toHaveLength(0);
    // a stops ticking (SIGKILLed): within the lock TTL b leads and the runs go on.
    clock.set(T0 + 5 * 60_000 + 10_001);
    expect((await beatB.tick()).role).toBe('leader');
    clock.set(T0 + 6 * 60_000);
    await beatB.tick();
    expect(appB.runs()).toEqual([at(T0 + 6 * 60_000)]);
    // a comes back: its lease is gone, it follows and enqueues nothing.
    const back = await beatA.tick();
    expect(back.role).toBe('follower');
    expect(appA.runs()).toHaveLength(5);
  });

  it('a beat that stops releases the lock, so another leads at once', async () => {
    const { clock, store, beat } = setup({ id: 'a' });
    await beat.start();
    await beat.close();
    const other = new Beat(new FakeApp(), { store, clock, id: 'b' });
    expect((await other.tick()).role).toBe('leader');
    await other.close();
  });

  it('a publish that fails stays pending and is republished with the same task id', async () => {
    const { clock, app, store, beat } = setup({ lockTtl: 5 });
    await beat.syncEntries();
    clock.set(T0 + 60_000);
    app.failing = true;
    expect((await beat.tick()).published).toBe(0);
    expect(await store.pending(Number.MAX_SAFE_INTEGER, 10)).toEqual([
      { name: 'minutely', scheduledAt: T0 + 60_000, claimedAt: T0 + 60_000 },
    ]);
    app.failing = false;
    clock.advance(2000);
    await beat.tick(); // younger than the lock TTL: perhaps still being published by a live leader
    expect(app.sent).toHaveLength(0);
    clock.advance(5000);
    expect((await beat.tick()).published).toBe(1);
    expect(app.sent[0]?.options.taskId).toBe(runTaskId('default', 'minutely', T0 + 60_000));
    expect(await store.pending(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
  });

  it('edits through the API apply at the next tick: add, pause, resume, remove', async () => {
    const { clock, app, beat } = setup({ entries: [] });
    await beat.syncEntries();
    await beat.add({ name: 'hourly', task: 'tasks.hourly', schedule: crontab('0 * * * *') });
    await expect(
      beat.add({ name: 'hourly', task: 'x', schedule: crontab('0 * * * *') }),
    ).rejects.toMatchObject({ code: 'CELERIAC_ERR_INVALID_OPTION' });
    await expect(
      beat.add({
        name: 'bad',
        task: 'x',
        schedule: { kind: 'crontab', expression: '0 99 * * *', dayMatch: 'vixie' },
      }),
    ).rejects.toMatchObject({
      code: 'CELERIAC_ERR_INVALID_SCHEDULE',
    });
    clock.set(T0 + 3_600_000);
    await beat.tick();
    expect(app.runs('hourly')).toEqual([at(T0 + 3_600_000)]);
    expect(await beat.pause('hourly')).toBe(true);
    clock.set(T0 + 3 * 3_600_000);
    await beat.tick();
    expect(app.runs('hourly')).toHaveLength(1);
    expect(await beat.resume('hourly')).toBe(true); // from now on: the paused runs are not enqueued
    expect((await beat.entries.get('hourly'))?.state.nextRunAt).toBe(T0 + 4 * 3_600_000);
    clock.set(T0 + 4 * 3_600_000);
    await beat.tick();
    expect(app.runs('hourly')).toEqual([at(T0 + 3_600_000), at(T0 + 4 * 3_600_000)]);
    await beat.add(
      { name: 'hourly', task: 'tasks.hourly', schedule: crontab('30 * * * *') },
      { replace: true },
    );
    expect((await beat.entries.get('hourly'))?.state.nextRunAt).toBe(
      T0 + 4 * 3_600_000 + 1_800_000,
    );
    expect(await beat.remove('hourly')).toBe(true);
    expect(await beat.remove('hourly')).toBe(false);
    expect(await beat.pause('hourly')).toBe(false);
    clock.set(T0 + 10 * 3_600_000);
    await beat.tick();
    expect(app.runs('hourly')).toHaveLength(2);
    expect(await beat.entries.upcoming('nope', 3)).toBeUndefined();
  });

  it('a one-off runs once; jitter moves a run but keeps its scheduled time', async () => {
    const { clock, app, beat } = setup({
      entries: [
        { name: 'once', task: 't.once', schedule: oneOff(T0 + 5000) },
        { name: 'jittery', task: 't.j', schedule: interval({ seconds: 30, jitter: 10 }) },
      ],
    });
    await beat.syncEntries();
    for (let t = T0; t <= T0 + 120_000; t += 500) {
      clock.set(t);
      await beat.tick();
    }
    expect(app.runs('once')).toEqual([at(T0 + 5000)]);
    expect((await beat.entries.get('once'))?.state.nextRunAt).toBeNull();
    // Each run is enqueued up to 10 s before or after its scheduled time, under the scheduled time's identity.
    expect(app.runs('jittery').slice(0, 3)).toEqual(
      [30_000, 60_000, 90_000].map((d) => at(T0 + d)),
    );
  });

  it('a run jittered earlier is published before its scheduled time, once, and in order', async () => {
    const schedule = interval({ minutes: 1, jitter: 25 });
    const { clock, app, beat } = setup({
      entries: [{ name: 'early', task: 't.e', schedule }],
    });
    await beat.syncEntries();
    const publishedAt: number[] = [];
    for (let t = T0; t <= T0 + 20 * 60_000; t += 250) {
      clock.set(t);
      await beat.tick();
      while (publishedAt.length < app.runs('early').length) publishedAt.push(t);
    }
    const scheduled = app.runs('early').map((r) => Date.parse(r));
    expect(scheduled.slice(0, 19)).toEqual(
      Array.from({ length: 19 }, (_, i) => T0 + (i + 1) * 60_000),
    );
    expect(new Set(scheduled).size).toBe(scheduled.length); // each run once
    scheduled.forEach((s, i) => {
      expect(Math.abs((publishedAt[i] ?? 0) - s)).toBeLessThanOrEqual(25_250);
      if (i > 0) expect(publishedAt[i]).toBeGreaterThan(publishedAt[i - 1] ?? 0);
    });
    expect(scheduled.filter((s, i) => (publishedAt[i] ?? 0) < s).length).toBeGreaterThan(2);
    const state = (await beat.entries.get('early'))?.state;
    expect(state?.nextRunAt).toBe((state?.lastRunAt ?? 0) + 60_000);
  });

  it('refuses an invalid entry at construction, naming it', () => {
    let caught: unknown;
    try {
      new Beat(new FakeApp(), {
        entries: [{ name: 'x', task: 't', schedule: interval(1), options: { priority: -1 } }],
      });
    } catch (err) {
      caught = err;
    }
    expect(isCeleriacError(caught, 'CELERIAC_ERR_INVALID_SCHEDULE')).toBe(true);
    expect(() => new Beat(new FakeApp(), { entries: [everyMinute, everyMinute] })).toThrow(
      /two beat entries are named "minutely"/,
    );
    expect(() => new Beat(new FakeApp(), { lockTtl: 0 })).toThrow(/lockTtl/);
    expect(() => new Beat(new FakeApp(), { timezone: 'Somewhere/Else' })).toThrow(/IANA/);
  });

  it('start/close: a lifecycle with idempotent close; start() in another state is INVALID_STATE', async () => {
    const { beat } = setup();
    expect(beat.state).toBe('idle');
    await beat.start();
    expect(beat.state).toBe('running');
    await expect(beat.start()).rejects.toMatchObject({
      code: 'CELERIAC_ERR_INVALID_STATE',
      details: { state: 'running' },
    });
    await Promise.all([beat.close(), beat.close()]);
    expect(beat.state).toBe('closed');
    await expect(beat.start()).rejects.toMatchObject({
      code: 'CELERIAC_ERR_INVALID_STATE',
      details: { state: 'closed' },
    });
  });

  it('start() while starting is INVALID_STATE, and close() during start() never leaves it running', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let acquired = 0;
    class SlowStore extends MemoryScheduleStore {
      override async upsert(...args: Parameters<MemoryScheduleStore['upsert']>) {
        await gate;
        return super.upsert(...args);
      }
      override acquireLeadership(...args: Parameters<MemoryScheduleStore['acquireLeadership']>) {
        acquired++;
        return super.acquireLeadership(...args);
      }
    }
    const { beat } = setup({ store: new SlowStore(), entries: [everyMinute] });
    const starting = beat.start();
    expect(beat.state).toBe('starting');
    await expect(beat.start()).rejects.toMatchObject({
      code: 'CELERIAC_ERR_INVALID_STATE',
      details: { state: 'starting' },
    });
    const closing = beat.close();
    expect(beat.state).toBe('closing');
    release();
    await starting;
    await closing;
    expect(beat.state).toBe('closed');
    expect(acquired).toBe(0); // the loop never ran a tick
    await expect(beat.start()).rejects.toMatchObject({ code: 'CELERIAC_ERR_INVALID_STATE' });
  });

  it('stop() is a deprecated alias of close()', async () => {
    const { beat } = setup();
    await beat.start();
    await beat.stop();
    expect(beat.state).toBe('closed');
    expect(beat.close()).toBe(beat.close());
  });
});

describe('restart of all beats: the misfire policy', () => {
  async function downFor(minutes: number, options: Partial<BeatEntry>): Promise<string[]> {
    const store = new MemoryScheduleStore();
    const entry: BeatEntry = { ...everyMinute, ...options };
    const first = setup({ store, entries: [entry] });
    await first.beat.syncEntries();
    first.clock.set(T0 + 60_000);
    await first.beat.tick();
    await first.beat.close();
    // Every beat is down; a new one starts `minutes` later on the same store and config.
    const clock = new ManualClock(T0 + 60_000 + minutes * 60_000 + 500);
    const app = new FakeApp();
    const again = new Beat(app, { store, entries: [entry], clock });
    await again.syncEntries(); // unchanged config: the stored state, and its next run, are kept
    await again.tick();
    await again.close();
    return app.runs();
  }

  it('coalesce (default): the missed runs become one, the latest', async () => {
    expect(await downFor(10, {})).toEqual([at(T0 + 11 * 60_000)]);
  });

  it('catchUp: each missed run, oldest first, up to catchUpLimit', async () => {
    expect(await downFor(3, { catchUp: true })).toEqual([2, 3, 4].map((m) => at(T0 + m * 60_000)));
    expect(await downFor(10, { catchUp: true, catchUpLimit: 4 })).toEqual(
      [8, 9, 10, 11].map((m) => at(T0 + m * 60_000)),
    );
  });

  it('misfireGraceTime: runs later than the grace are skipped', async () => {
    expect(await downFor(10, { misfireGraceTime: 30 })).toEqual([at(T0 + 11 * 60_000)]); // the latest is 0.5 s late
    expect(await downFor(10, { misfireGraceTime: 90, catchUp: true })).toEqual([
      at(T0 + 10 * 60_000),
      at(T0 + 11 * 60_000),
    ]);
  });

  it('config sync: an entry dropped from the config is removed; runtime entries stay', async () => {
    const { clock, store, beat } = setup();
    await beat.syncEntries();
    await beat.add({ name: 'runtime', task: 't', schedule: interval(60) });
    const next = new Beat(new FakeApp(), { store, clock, entries: [] });
    await next.syncEntries();
    expect((await next.list()).map((e) => [e.definition.name, e.state.source])).toEqual([
      ['runtime', 'api'],
    ]);
  });
});
