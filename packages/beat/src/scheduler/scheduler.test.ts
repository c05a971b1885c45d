import { isCeleriacError, ManualClock } from '@celeriac/core';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { cron } from '../schedules/cron.js';
import { interval } from '../schedules/interval.js';
import { MemoryScheduleStore } from '../store/memory-schedule-store.js';
import { Scheduler, type SchedulerOptions } from './scheduler.js';
import type { Job, JobDefaults } from './job.js';
import type { SchedulerEventMap, SchedulerEventName } from './scheduler-events.js';

/** Monday 2 June 2025, 09:00 UTC. */
const T0 = Date.parse('2025-06-02T09:00:00Z');
const MIN = 60_000;
const iso = (t: number | Date): string => new Date(t).toISOString();

function setup(options: SchedulerOptions = {}) {
  const clock = new ManualClock(T0);
  const scheduler = new Scheduler({ clock, timezone: 'UTC', ...options });
  const events: { name: SchedulerEventName; event: unknown }[] = [];
  const record = <K extends SchedulerEventName>(name: K): void => {
    scheduler.on(name, (event: SchedulerEventMap[K]) => events.push({ name, event }));
  };
  for (const n of ['submitted', 'executed', 'error', 'missed', 'maxInstances'] as const) record(n);
  const of = <K extends SchedulerEventName>(name: K): SchedulerEventMap[K][] =>
    events.filter((e) => e.name === name).map((e) => e.event as SchedulerEventMap[K]);
  return { clock, scheduler, events, of };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('Scheduler: jobs run in the process at their times', () => {
  it('runs an interval job at each period, with its args, and nothing before it is due', async () => {
    const { clock, scheduler, of } = setup();
    const calls: unknown[][] = [];
    const job = await scheduler.addJob(
      (a: number, b: string) => calls.push([a, b]),
      interval({ minutes: 1 }),
      {
        id: 'tick',
        args: [1, 'x'],
      },
    );
    expect(job.nextRunTime?.toISOString()).toBe(iso(T0 + MIN));
    expect(await scheduler.runPending()).toBe(0);
    clock.set(T0 + MIN - 1);
    expect(await scheduler.runPending()).toBe(0);
    clock.set(T0 + MIN);
    expect(await scheduler.runPending()).toBe(1);
    expect(calls).toEqual([[1, 'x']]);
    expect(await scheduler.runPending()).toBe(0);
    clock.set(T0 + 2 * MIN + 500);
    expect(await scheduler.runPending()).toBe(1);
    expect(of('executed').map((e) => [e.jobId, iso(e.scheduledAt)])).toEqual([
      ['tick', iso(T0 + MIN)],
      ['tick', iso(T0 + 2 * MIN)],
    ]);
    expect((await scheduler.getJob('tick'))?.nextRunTime?.toISOString()).toBe(iso(T0 + 3 * MIN));
  });

  it('passes kwargs as one more, last argument', async () => {
    const { clock, scheduler } = setup();
    const got: unknown[] = [];
    await scheduler.addJob((a: number, o: { n: number }) => got.push(a, o), 'date', {
      runDate: T0 + 1000,
      args: [7],
      kwargs: { n: 1 },
    });
    clock.set(T0 + 1000);
    expect(await scheduler.runPending()).toBe(1);
    expect(got).toEqual([7, { n: 1 }]);
  });

  it('awaits an async job: runPending resolves once it has finished, with its result in executed', async () => {
    const { clock, scheduler, of } = setup();
    let finished = false;
    await scheduler.addJob(
      async () => {
        for (let i = 0; i < 5; i++) await Promise.resolve();
        finished = true;
        return 42;
      },
      interval({ minutes: 1 }),
      { id: 'slow' },
    );
    clock.set(T0 + MIN);
    await scheduler.runPending();
    expect(finished).toBe(true);
    expect(of('executed')[0]).toMatchObject({ jobId: 'slow', result: 42 });
  });

  it('a throwing job (sync or async) emits error and the scheduler goes on', async () => {
    const { clock, scheduler, of } = setup();
    const ran: string[] = [];
    await scheduler.addJob(
      () => {
        throw new TypeError('boom');
      },
      interval({ minutes: 1 }),
      { id: 'sync-throw' },
    );
    await scheduler.addJob(
      () => Promise.reject(new Error('async boom')),
      interval({ minutes: 1 }),
      {
        id: 'async-throw',
      },
    );
    await scheduler.addJob(() => ran.push('ok'), interval({ minutes: 1 }), { id: 'fine' });
    clock.set(T0 + MIN);
    expect(await scheduler.runPending()).toBe(3);
    clock.set(T0 + 2 * MIN);
    expect(await scheduler.runPending()).toBe(3);
    expect(ran).toEqual(['ok', 'ok']);
    const errors = of('error');
    expect(errors.map((e) => e.jobId).sort()).toEqual([
      'async-throw',
      'async-throw',
      'sync-throw',
      'sync-throw',
    ]);
    const first = errors.find((e) => e.jobId === 'sync-throw');
    expect(first?.error).toBeInstanceOf(TypeError);
    expect(await scheduler.beat.store.get('sync-throw')).toMatchObject({
      state: { enabled: true },
    });
  });

  it('maxInstances: 1 with a job slower than its interval never overlaps and emits maxInstances', async () => {
    const { clock, scheduler, of } = setup();
    let running = 0;
    let most = 0;
    const gates: (() => void)[] = [];
    await scheduler.addJob(
      async () => {
        running++;
        most = Math.max(most, running);
        const d = deferred();
        gates.push(d.resolve);
        await d.promise;
        running--;
      },
      interval({ minutes: 1 }),
      { id: 'slow', maxInstances: 1 },
    );
    clock.set(T0 + MIN);
    expect(await scheduler.runPending({ wait: false })).toBe(1);
    clock.set(T0 + 2 * MIN);
    expect(await scheduler.runPending({ wait: false })).toBe(0);
    clock.set(T0 + 3 * MIN);
    expect(await scheduler.runPending({ wait: false })).toBe(0);
    expect(
      of('maxInstances').map((e) => [e.jobId, iso(e.scheduledAt), e.running, e.maxInstances]),
    ).toEqual([
      ['slow', iso(T0 + 2 * MIN), 1, 1],
      ['slow', iso(T0 + 3 * MIN), 1, 1],
    ]);
    expect(scheduler.running).toBe(1);
    gates[0]?.();
    clock.set(T0 + 4 * MIN);
    await Promise.resolve();
    const started = scheduler.runPending({ wait: false });
    expect(await started).toBe(1);
    gates[1]?.();
    await scheduler.shutdown();
    expect(most).toBe(1);
    expect(of('executed')).toHaveLength(2);
  });

  it('maxInstances: 2 lets two runs overlap, not three', async () => {
    const { clock, scheduler, of } = setup();
    const gates: (() => void)[] = [];
    await scheduler.addJob(
      () => {
        const d = deferred();
        gates.push(d.resolve);
        return d.promise;
      },
      interval({ minutes: 1 }),
      { id: 'two', maxInstances: 2 },
    );
    for (let i = 1; i <= 3; i++) {
      clock.set(T0 + i * MIN);
      await scheduler.runPending({ wait: false });
    }
    expect(scheduler.running).toBe(2);
    expect(of('maxInstances')).toHaveLength(1);
    for (const g of gates) g();
    await scheduler.shutdown();
  });
});

describe('Scheduler: missed runs after the clock stood still (APScheduler semantics)', () => {
  const job = (s: Scheduler, options: JobDefaults = {}) => {
    const runs: number[] = [];
    return {
      runs,
      added: s.addJob(() => runs.push(1), interval({ minutes: 1 }), { id: 'm', ...options }),
    };
  };

  it('coalesce (the default): five missed runs run once, as the latest', async () => {
    const { clock, scheduler, of } = setup();
    const { runs, added } = job(scheduler);
    await added;
    clock.set(T0 + 5 * MIN + 10_000);
    expect(await scheduler.runPending()).toBe(1);
    expect(runs).toHaveLength(1);
    expect(of('submitted').map((e) => iso(e.scheduledAt))).toEqual([iso(T0 + 5 * MIN)]);
    expect(of('missed').map((e) => [e.jobId, iso(e.scheduledAt), e.reason])).toEqual(
      [1, 2, 3, 4].map((i) => ['m', iso(T0 + i * MIN), 'coalesced']),
    );
    expect((await scheduler.getJob('m'))?.nextRunTime?.toISOString()).toBe(iso(T0 + 6 * MIN));
  });

  it('coalesce: false runs each missed run, oldest first', async () => {
    const { clock, scheduler, of } = setup();
    const { runs, added } = job(scheduler, { coalesce: false, maxInstances: null });
    await added;
    clock.set(T0 + 5 * MIN + 10_000);
    expect(await scheduler.runPending()).toBe(5);
    expect(runs).toHaveLength(5);
    expect(of('submitted').map((e) => iso(e.scheduledAt))).toEqual(
      [1, 2, 3, 4, 5].map((i) => iso(T0 + i * MIN)),
    );
  });

  it('misfireGraceTime: a run later than the grace is skipped; with coalesce: false each run is judged alone', async () => {
    const a = setup();
    const one = job(a.scheduler, { misfireGraceTime: 30 });
    await one.added;
    a.clock.set(T0 + 5 * MIN + 40_000);
    expect(await a.scheduler.runPending()).toBe(0);
    expect(one.runs).toHaveLength(0);
    expect(
      a
        .of('missed')
        .map((e) => [iso(e.scheduledAt), e.reason])
        .at(-1),
    ).toEqual([iso(T0 + 5 * MIN), 'misfire']);
    a.clock.set(T0 + 6 * MIN + 29_000);
    expect(await a.scheduler.runPending()).toBe(1);

    const b = setup();
    const each = job(b.scheduler, { misfireGraceTime: 110, coalesce: false, maxInstances: null });
    await each.added;
    b.clock.set(T0 + 5 * MIN + 40_000);
    expect(await b.scheduler.runPending()).toBe(2);
    expect(b.of('submitted').map((e) => iso(e.scheduledAt))).toEqual([
      iso(T0 + 4 * MIN),
      iso(T0 + 5 * MIN),
    ]);
    expect(b.of('missed').map((e) => [iso(e.scheduledAt), e.reason])).toEqual([
      [iso(T0 + 1 * MIN), 'misfire'],
      [iso(T0 + 2 * MIN), 'misfire'],
      [iso(T0 + 3 * MIN), 'misfire'],
    ]);
  });
});

describe('Scheduler: the job API', () => {
  it('every().do() without await, tags, getJobs(tag), clear(tag), removeJob', async () => {
    const { clock, scheduler } = setup();
    const seen: string[] = [];
    const greet = (name: string): void => void seen.push(name);
    void scheduler.every(10).minutes().tag('hello').do(greet, 'ten');
    void scheduler.every().hour().tag('hello', 'hourly').do(greet, 'hour');
    void scheduler.every().day().at('10:30').do(greet, 'day');
    const jobs = await scheduler.getJobs();
    expect(jobs.map((j) => [j.name, j.nextRunTime?.toISOString(), j.tags])).toEqual([
      ['greet', iso(T0 + 10 * MIN), ['hello']],
      ['greet', iso(T0 + 60 * MIN), ['hello', 'hourly']],
      ['greet', '2025-06-02T10:30:00.000Z', []],
    ]);
    expect((await scheduler.getJobs('hourly')).map((j) => j.args)).toEqual([['hour']]);
    expect(await scheduler.clear('hello')).toBe(2);
    expect(await scheduler.getJobs()).toHaveLength(1);
    clock.set(Date.parse('2025-06-02T10:30:00Z'));
    expect(await scheduler.runPending()).toBe(1);
    expect(seen).toEqual(['day']);
    const [day] = await scheduler.getJobs();
    expect(day && (await scheduler.removeJob(day))).toBe(true);
    expect(await scheduler.removeJob('nope')).toBe(false);
    expect(await scheduler.nextRun()).toBeUndefined();
  });

  it('a failed every().do() nobody awaits is thrown by the next runPending(); an awaited one only to its caller', async () => {
    const { scheduler } = setup();
    const notAFunction = 'greet' as unknown as () => void;
    void scheduler.every(10).minutes().do(notAFunction); // no unhandled rejection
    await expect(scheduler.runPending()).rejects.toMatchObject({
      code: 'CELERIAC_ERR_INVALID_OPTION',
    });
    await expect(scheduler.every().hour().do(notAFunction)).rejects.toMatchObject({
      code: 'CELERIAC_ERR_INVALID_OPTION',
    });
    expect(await scheduler.runPending()).toBe(0); // told once, to the caller who awaited
  });

  it('reports edits: added, modified, paused, resumed, removed', async () => {
    const { scheduler } = setup();
    const seen: string[] = [];
    for (const n of ['added', 'modified', 'paused', 'resumed', 'removed'] as const)
      scheduler.on(n, (e) => seen.push(`${n}:${e.jobId}`));
    await scheduler.addJob(() => undefined, interval(60), { id: 'e' });
    await scheduler.addJob(() => undefined, interval(60), { id: 'e', replaceExisting: true });
    await scheduler.addJob(() => undefined, interval(120), { id: 'e', replaceExisting: true });
    await scheduler.pauseJob('e');
    await scheduler.resumeJob('e');
    await scheduler.modifyJob('e', { args: [1] });
    await scheduler.removeJob('e');
    expect(seen).toEqual([
      'added:e',
      'modified:e',
      'paused:e',
      'resumed:e',
      'modified:e',
      'removed:e',
    ]);
  });

  it('pauseJob / resumeJob skip the runs missed while paused; modifyJob keeps the next run', async () => {
    const { clock, scheduler } = setup();
    const got: unknown[] = [];
    await scheduler.addJob((x: string) => got.push(x), interval({ minutes: 1 }), {
      id: 'p',
      args: ['a'],
    });
    expect(await scheduler.pauseJob('p')).toBe(true);
    expect((await scheduler.getJob('p'))?.nextRunTime).toBeNull();
    clock.set(T0 + 3 * MIN + 5000);
    expect(await scheduler.runPending()).toBe(0);
    expect(await scheduler.resumeJob('p')).toBe(true);
    const job = await scheduler.modifyJob('p', { args: ['b'], name: 'renamed' });
    expect(job).toMatchObject({ name: 'renamed', args: ['b'] });
    expect(job?.nextRunTime?.toISOString()).toBe(iso(T0 + 4 * MIN));
    clock.set(T0 + 4 * MIN);
    expect(await scheduler.runPending()).toBe(1);
    expect(got).toEqual(['b']);
    expect(await scheduler.modifyJob('nope', { args: [] })).toBeUndefined();
  });

  it('rescheduleJob gives a new trigger, counted from now', async () => {
    const { clock, scheduler } = setup();
    await scheduler.addJob(() => undefined, interval({ minutes: 1 }), { id: 'r' });
    clock.set(T0 + 30_000);
    const job = await scheduler.rescheduleJob('r', 'cron', { minute: '*/15' });
    expect(job?.nextRunTime?.toISOString()).toBe(iso(T0 + 15 * MIN));
    expect(job?.schedule.kind).toBe('cron');
  });

  it("APScheduler's trigger names: 'interval' starts now, 'cron' fields, 'date' (a past one runs at once)", async () => {
    const { clock, scheduler } = setup();
    clock.set(T0 + 7_000);
    const i = await scheduler.addJob(() => undefined, 'interval', { minutes: 2 });
    expect(i.nextRunTime?.toISOString()).toBe(iso(T0 + 7_000 + 2 * MIN));
    const c = await scheduler.addJob(() => undefined, 'cron', {
      dayOfWeek: 'mon-fri',
      hour: 5,
      minute: 30,
      endDate: '2025-06-30',
    });
    expect(c.nextRunTime?.toISOString()).toBe('2025-06-03T05:30:00.000Z');
    const d = await scheduler.addJob(() => undefined, 'date', { runDate: T0 - MIN, id: 'late' });
    expect(d.nextRunTime?.toISOString()).toBe(iso(T0 - MIN));
    expect(await scheduler.runPending()).toBe(1);
    expect((await scheduler.getJob('late'))?.nextRunTime).toBeNull();
  });

  it('refuses unknown options, trigger fields on the wrong trigger, and a duplicate id', async () => {
    const { scheduler } = setup();
    const fn = (): void => undefined;
    await expect(
      scheduler.addJob(fn, interval(60), { maxInstance: 2 } as never),
    ).rejects.toMatchObject({
      code: 'CELERIAC_ERR_INVALID_OPTION',
      details: { option: 'maxInstance', suggestion: 'maxInstances' },
    });
    await expect(scheduler.addJob(fn, interval(60), { minutes: 2 } as never)).rejects.toThrow(
      /"minutes" is a field of the 'interval' trigger/,
    );
    await expect(scheduler.addJob(fn, every60(), { jitter: 5 })).rejects.toThrow(
      /jitter does not apply/,
    );
    await scheduler.addJob(fn, interval(60), { id: 'dup' });
    await expect(scheduler.addJob(fn, interval(60), { id: 'dup' })).rejects.toThrow(
      /replaceExisting/,
    );
    const same = await scheduler.addJob(fn, interval(60), { id: 'dup', replaceExisting: true });
    expect(same.id).toBe('dup');
    expect(() => new Scheduler({ timezon: 'UTC' } as never)).toThrow(/did you mean "timezone"/);
    function every60() {
      return scheduler.every(60).seconds();
    }
  });

  it('replaceExisting keeps the next run of an unchanged job (a restarted process re-adding it)', async () => {
    const clock = new ManualClock(T0);
    const store = new MemoryScheduleStore();
    const a = new Scheduler({ clock, store, timezone: 'UTC' });
    await a.addJob(() => undefined, cron({ minute: '*/10' }), {
      id: 'keep',
      replaceExisting: true,
    });
    clock.set(T0 + 25 * MIN);
    const b = new Scheduler({ clock, store, timezone: 'UTC' });
    const again = await b.addJob(() => undefined, cron({ minute: '*/10' }), {
      id: 'keep',
      replaceExisting: true,
    });
    expect(again.nextRunTime?.toISOString()).toBe(iso(T0 + 10 * MIN));
    expect(await b.runPending()).toBe(1);
  });

  it('a due job with no function in this process is an error event, not a crash', async () => {
    const clock = new ManualClock(T0);
    const store = new MemoryScheduleStore();
    const a = new Scheduler({ clock, store, timezone: 'UTC' });
    await a.addJob(() => undefined, interval({ minutes: 1 }), { id: 'elsewhere' });
    const b = new Scheduler({ clock, store, timezone: 'UTC' });
    const errors: unknown[] = [];
    b.on('error', (e) => errors.push(e.error));
    clock.set(T0 + MIN);
    await b.runPending();
    expect(errors).toHaveLength(1);
    expect(isCeleriacError(errors[0], 'CELERIAC_ERR_UNKNOWN_TASK')).toBe(true);
  });

  it('runAll runs every job now; nextRun and idleSeconds say when the next is due', async () => {
    const { clock, scheduler } = setup();
    const got: string[] = [];
    await scheduler.addJob(() => got.push('a'), interval({ minutes: 5 }), { id: 'a' });
    await scheduler.addJob(() => got.push('b'), interval({ minutes: 2 }), { id: 'b' });
    clock.set(T0 + 30_000);
    expect(await scheduler.runAll()).toBe(2);
    expect(got.sort()).toEqual(['a', 'b']);
    expect((await scheduler.nextRun())?.toISOString()).toBe(iso(T0 + 2 * MIN));
    expect(await scheduler.idleSeconds()).toBe(90);
  });
});

describe('Scheduler: types', () => {
  it('checks args against the function, kwargs as its last parameter', () => {
    const s = new Scheduler({ timezone: 'UTC' });
    const greet = (name: string, times: number): void => void [name, times];
    const withOptions = (n: number, o: { loud: boolean }): void => void [n, o];
    const checks = (): void => {
      void s.every().day().do(greet, 'Ann', 2);
      // @ts-expect-error: times must be a number
      void s.every().day().do(greet, 'Ann', '2');
      void s.addJob(greet, interval(60), { args: ['Ann', 2] });
      // @ts-expect-error: name must be a string
      void s.addJob(greet, interval(60), { args: [1, 2] });
      void s.addJob(withOptions, 'interval', { minutes: 1, args: [1], kwargs: { loud: true } });
      // @ts-expect-error: interval fields on the cron trigger
      void s.addJob(greet, 'cron', { minutes: 1 });
    };
    expectTypeOf(checks).toBeFunction();
    expectTypeOf(s.addJob(greet, interval(60))).resolves.toEqualTypeOf<Job>();
  });
});

describe('Scheduler: lifecycle', () => {
  it('shutdown({ wait: true }) waits for running jobs; wait: false does not', async () => {
    for (const wait of [true, false]) {
      const { clock, scheduler } = setup();
      const gate = deferred();
      let finished = false;
      await scheduler.addJob(
        async () => {
          await gate.promise;
          finished = true;
        },
        interval({ minutes: 1 }),
        { id: 'long' },
      );
      clock.set(T0 + MIN);
      await scheduler.runPending({ wait: false });
      let closed = false;
      const closing = scheduler.shutdown({ wait }).then(() => (closed = true));
      for (let i = 0; i < 20; i++) await Promise.resolve();
      if (wait) {
        expect(closed).toBe(false);
        gate.resolve();
        await closing;
        expect(finished).toBe(true);
      } else {
        await closing;
        expect(finished).toBe(false);
        gate.resolve();
      }
      expect(scheduler.state).toBe('shutdown');
    }
  });

  it('start() runs the background loop; a shut-down scheduler refuses work', async () => {
    const { scheduler } = setup();
    const seen: string[] = [];
    scheduler.on('started', () => seen.push('started')).on('shutdown', () => seen.push('shutdown'));
    await scheduler.start();
    expect(scheduler.state).toBe('running');
    await expect(scheduler.start()).rejects.toMatchObject({ code: 'CELERIAC_ERR_INVALID_STATE' });
    await scheduler.shutdown();
    await scheduler.shutdown();
    expect(seen).toEqual(['started', 'shutdown']);
    await expect(scheduler.runPending()).rejects.toMatchObject({
      code: 'CELERIAC_ERR_INVALID_STATE',
    });
    await expect(scheduler.addJob(() => undefined, interval(1))).rejects.toMatchObject({
      code: 'CELERIAC_ERR_INVALID_STATE',
    });
  });
});
