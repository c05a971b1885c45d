import { ManualClock } from '@celeriac/core';
import type { ApplyOptions } from '@celeriac/client';
import { describe, expect, it } from 'vitest';
import { entryEvent } from './beat-wake.js';
import { Beat, type BeatApp } from './beat.js';
import { BeatEntries } from './beat-entries.js';
import { interval } from './schedules/interval.js';
import { oneOff } from './schedules/one-off.js';
import { MemoryScheduleStore } from './store/memory-schedule-store.js';

const T0 = Date.parse('2024-01-01T00:00:00Z');

class FakeApp implements BeatApp {
  readonly sent: { task: string; args: readonly unknown[]; entry: unknown }[] = [];
  sendTask(
    task: string,
    args: readonly unknown[] = [],
    _kwargs: Record<string, unknown> = {},
    options: ApplyOptions = {},
  ): { published: Promise<void> } {
    this.sent.push({ task, args, entry: options.headers?.['beat_entry'] });
    return { published: Promise.resolve() };
  }
}

describe('a running beat and edits', () => {
  it('the leader wakes at once on a change in the store, not at its next poll', async () => {
    const clock = new ManualClock(T0 + 1);
    const app = new FakeApp();
    const store = new MemoryScheduleStore();
    // Polls every 30 s and renews its lock every 20 min: only the wake-up explains a prompt run.
    const beat = new Beat(app, { store, clock, maxLoopInterval: 30, lockTtl: 3600 });
    const follower = new Beat(new FakeApp(), { store, clock, maxLoopInterval: 30, lockTtl: 3600 });
    await beat.start();
    await expect.poll(() => beat.role, { timeout: 5000, interval: 5 }).toBe('leader');
    await follower.start();
    // An edit through another BeatEntries (as the CLI or another process would make it).
    const other = new BeatEntries(store, { clock });
    await other.add({ name: 'soon', task: 't.soon', schedule: oneOff(T0 + 1000), args: [1] });
    clock.set(T0 + 1000);
    // The run is due now by the clock, but the loop sleeps for 30 s: a change wakes it.
    await other.add({ name: 'unrelated', task: 't.other', schedule: interval(3600) });
    await expect
      .poll(() => app.sent, { timeout: 5000, interval: 5 })
      .toEqual([{ task: 't.soon', args: [1], entry: 'soon' }]);
    // A modify re-aimed at now is dispatched the same way, with the patched args.
    await other.add({ name: 'later', task: 't.later', schedule: oneOff(T0 + 3_600_000) });
    await other.modify('later', { schedule: oneOff(T0 + 2000), args: ['patched'] });
    clock.set(T0 + 2000);
    await other.pause('unrelated');
    await expect
      .poll(() => app.sent.length, { timeout: 5000, interval: 5 })
      .toBeGreaterThanOrEqual(2);
    expect(app.sent[1]).toEqual({ task: 't.later', args: ['patched'], entry: 'later' });
    await follower.close();
    await beat.close();
  });

  it('modify, reschedule and removeAll on the beat itself; entries.sync replaces its configuration', async () => {
    const clock = new ManualClock(T0 + 1);
    const app = new FakeApp();
    const beat = new Beat(app, {
      clock,
      entries: [{ name: 'cfg', task: 't.cfg', schedule: interval(60) }],
    });
    await beat.syncEntries();
    await beat.add({ name: 'api', task: 't.api', schedule: interval(3600) });
    await beat.modify('api', { args: [7] });
    expect((await beat.reschedule('api', interval(120)))?.state.nextRunAt).toBe(T0 + 120_000);
    clock.set(T0 + 120_000);
    await beat.tick();
    expect(app.sent).toEqual([
      { task: 't.cfg', args: [], entry: 'cfg' },
      { task: 't.api', args: [7], entry: 'api' },
    ]);
    const results = await beat.entries.sync([
      { name: 'cfg2', task: 't.cfg2', schedule: interval(60) },
    ]);
    expect(results).toEqual([{ name: 'cfg2', status: 'created' }]);
    expect((await beat.list()).map((e) => e.definition.name)).toEqual(['api', 'cfg2']);
    // An invalid set is refused and the previous one kept.
    await expect(
      beat.entries.sync([
        { name: 'dup', task: 't', schedule: interval(60) },
        { name: 'dup', task: 't', schedule: interval(60) },
      ]),
    ).rejects.toThrow(/two beat entries are named "dup"/);
    await expect(
      beat.entries.sync([{ name: 'bad', task: 't', schedule: interval(60), args: 'x' as never }]),
    ).rejects.toThrow(/args/);
    expect((await beat.list()).map((e) => e.definition.name)).toEqual(['api', 'cfg2']);
    expect(await beat.removeAll()).toBe(2);
    expect(await beat.list()).toEqual([]);
    await beat.close();
  });

  it('maps change notices to entry events', () => {
    expect(entryEvent({ kind: 'added', name: 'a', origin: 'h:1' })).toEqual({
      name: 'added',
      event: { entry: 'a', origin: 'h:1' },
    });
    expect(entryEvent({ kind: 'paused', name: 'a' })).toEqual({
      name: 'paused',
      event: { entry: 'a' },
    });
    expect(entryEvent({ kind: 'cleared', origin: 'h:1' })).toBeUndefined();
    expect(entryEvent({ kind: 'modified' })).toBeUndefined();
  });
});
