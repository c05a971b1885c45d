import { ManualClock, type Clock } from '@celeriac/core';
import { describe, expect, it } from 'vitest';
import { BeatEntries } from './beat-entries.js';
import type { EntryPatch } from './entry-patch.js';
import type { BeatEntry } from './entry.js';
import { crontab } from './schedules/crontab.js';
import { interval } from './schedules/interval.js';
import { MemoryScheduleStore } from './store/memory-schedule-store.js';
import type { EntryChange, EntryWrite, UpsertMode, UpsertResult } from './store/schedule-store.js';

const T0 = Date.parse('2024-01-01T00:00:00Z');
const entry: BeatEntry = {
  name: 'job',
  task: 'tasks.job',
  schedule: interval({ minutes: 1 }),
  args: [1],
  kwargs: { k: 'v' },
  options: { queue: 'q', expires: 30, priority: 5 },
};

async function setup(store = new MemoryScheduleStore()) {
  const clock = new ManualClock(T0 + 1);
  const entries = new BeatEntries(store, { clock, timezone: 'UTC' });
  const changes: EntryChange[] = [];
  await store.watch((c) => changes.push(c));
  await entries.add(entry);
  return { clock, store, entries, changes };
}

/** Claims the entry's due run, as a leader would, so it has a last run and a run count. */
async function runOnce(store: MemoryScheduleStore, clock: Clock): Promise<void> {
  const r = await store.acquireLeadership('me', 60_000, clock.now());
  if (!r.acquired) throw new Error('no lock');
  const [due] = await store.due(clock.now(), 10);
  if (!due?.state.nextRunAt) throw new Error('nothing due');
  const next = due.state.nextRunAt + 60_000;
  await store.claim(
    r.lease,
    [
      {
        name: due.definition.name,
        revision: due.state.revision,
        expectedNextRunAt: due.state.nextRunAt,
        runs: [due.state.nextRunAt],
        nextRunAt: next,
        dueAt: next,
      },
    ],
    clock.now(),
  );
}

describe('BeatEntries.modify', () => {
  it('changes only what the patch names and keeps the next run, last run and count', async () => {
    const { clock, store, entries, changes } = await setup();
    clock.set(T0 + 60_000);
    await runOnce(store, clock);
    const before = await entries.get('job');
    const after = await entries.modify('job', {
      task: 'tasks.other',
      args: [2, 3],
      options: { queue: 'fast', priority: null },
      misfireGraceTime: 30,
    });
    expect(after?.definition).toMatchObject({
      task: 'tasks.other',
      args: [2, 3],
      kwargs: { k: 'v' },
      options: { queue: 'fast', expires: 30 },
      misfireGraceTime: 30,
      schedule: before?.definition.schedule,
    });
    expect(after?.definition.options).not.toHaveProperty('priority');
    expect(after?.state).toMatchObject({
      nextRunAt: T0 + 120_000,
      lastRunAt: T0 + 60_000,
      totalRunCount: 1,
      enabled: true,
      source: 'api',
      revision: (before?.state.revision ?? 0) + 1,
    });
    expect(changes.map((c) => `${c.kind}:${c.name ?? ''}`)).toEqual(['added:job', 'modified:job']);
  });

  it('keeps the maxInstances and maxInstancesTimeout the entry was given', async () => {
    const { entries } = await setup();
    await entries.add({ ...entry, name: 'wide', maxInstances: 4, maxInstancesTimeout: 60 });
    await entries.add({ ...entry, name: 'free', maxInstances: null });
    const wide = await entries.modify('wide', { args: [9] });
    expect(wide?.definition).toMatchObject({ args: [9], maxInstances: 4, maxInstancesTimeout: 60 });
    const free = await entries.modify('free', { schedule: interval({ minutes: 5 }) });
    expect(free?.definition.maxInstances).toBeNull();
  });

  it('recomputes the next run from now only when the schedule or its zone changes', async () => {
    const { clock, entries } = await setup();
    clock.set(T0 + 90_000);
    // A new schedule: the first run after now.
    const rescheduled = await entries.modify('job', { schedule: interval({ minutes: 5 }) });
    expect(rescheduled?.state.nextRunAt).toBe(T0 + 300_000);
    // The same schedule again, or other fields: the next run stays.
    clock.set(T0 + 200_000);
    expect((await entries.modify('job', { kwargs: {} }))?.state.nextRunAt).toBe(T0 + 300_000);
    expect(
      (await entries.modify('job', { schedule: interval({ minutes: 5 }) }))?.state.nextRunAt,
    ).toBe(T0 + 300_000);
  });

  it('a zone without a schedule moves the wall-clock schedule; a new schedule keeps the zone', async () => {
    const { clock, entries } = await setup();
    await entries.add({
      name: 'nightly',
      task: 't',
      schedule: crontab('0 3 * * *'),
      timezone: 'Europe/London',
    });
    expect((await entries.get('nightly'))?.state.nextRunAt).toBe(Date.parse('2024-01-01T03:00Z'));
    const ny = await entries.modify('nightly', { timezone: 'America/New_York' });
    expect(ny?.definition.schedule).toMatchObject({ timezone: 'America/New_York' });
    expect(ny?.state.nextRunAt).toBe(Date.parse('2024-01-01T08:00Z'));
    clock.set(Date.parse('2024-01-01T09:00Z'));
    const later = await entries.reschedule('nightly', crontab('30 4 * * *'));
    expect(later?.definition.schedule).toMatchObject({ timezone: 'America/New_York' });
    expect(later?.state.nextRunAt).toBe(Date.parse('2024-01-01T09:30Z'));
    // A schedule with its own zone keeps it.
    const own = await entries.reschedule('nightly', crontab('0 1 * * *', { timezone: 'UTC' }));
    expect(own?.definition.schedule).toMatchObject({ timezone: 'UTC' });
    expect(own?.state.nextRunAt).toBe(Date.parse('2024-01-02T01:00Z'));
  });

  it('pauses and resumes: resuming computes the next run from now', async () => {
    const { clock, entries } = await setup();
    const paused = await entries.modify('job', { enabled: false });
    expect(paused?.state).toMatchObject({ enabled: false, nextRunAt: T0 + 60_000 });
    clock.set(T0 + 185_000);
    const resumed = await entries.modify('job', { enabled: true });
    expect(resumed?.state).toMatchObject({ enabled: true, nextRunAt: T0 + 240_000 });
  });

  it('validates the patch as a whole entry and writes nothing when it is wrong', async () => {
    const { entries, changes } = await setup();
    const rev = (await entries.get('job'))?.state.revision;
    const refused = async (patch: unknown, message: RegExp): Promise<void> => {
      await expect(entries.modify('job', patch as EntryPatch)).rejects.toMatchObject({
        code: 'CELERIAC_ERR_INVALID_SCHEDULE',
        message: expect.stringMatching(message) as unknown,
      });
    };
    await refused({ tsak: 'x' }, /tsak.*task/s);
    await refused({ name: 'renamed' }, /cannot be renamed/);
    await refused({ task: '' }, /task/);
    await refused({ args: 'nope' }, /args/);
    await refused({ options: { qeueu: 'q' } }, /qeueu/);
    await refused({ options: { priority: -1 } }, /priority/);
    await refused({ timezone: 'Mars/Olympus' }, /Mars\/Olympus/);
    await refused({ catchUpLimit: 0 }, /catchUpLimit/);
    await refused(null, /patch/);
    expect((await entries.get('job'))?.state.revision).toBe(rev);
    expect(changes.map((c) => c.kind)).toEqual(['added']);
  });

  it('an empty or unchanged patch writes nothing; a missing entry resolves undefined', async () => {
    const { entries, changes } = await setup();
    const before = await entries.get('job');
    expect(await entries.modify('job', {})).toEqual(before);
    expect(await entries.modify('job', { args: [1], task: 'tasks.job' })).toEqual(before);
    expect(changes).toHaveLength(1);
    expect(await entries.modify('nobody', { args: [] })).toBeUndefined();
    expect(await entries.reschedule('nobody', interval(5))).toBeUndefined();
  });

  it('applies the patch on top of an edit that landed between its read and its write', async () => {
    const store = new RacingStore();
    const { entries } = await setup(store);
    store.interleave = async () => {
      await store.setEnabled('job', false, undefined, T0);
    };
    const after = await entries.modify('job', { args: ['patched'] });
    expect(after?.definition.args).toEqual(['patched']);
    // The concurrent pause survived: the retry read it and kept it.
    expect(after?.state.enabled).toBe(false);
    expect(store.stale).toBe(1);
  });

  it('gives up, saying so, when the entry keeps changing under it', async () => {
    const store = new RacingStore();
    const { entries } = await setup(store);
    let n = 0;
    store.always = true;
    store.interleave = async () => {
      await store.setEnabled('job', n++ % 2 === 0, undefined, T0);
    };
    await expect(entries.modify('job', { args: [9] })).rejects.toMatchObject({
      code: 'CELERIAC_ERR_INVALID_STATE',
      message: expect.stringMatching(/changed 5 times/) as unknown,
    });
  });
});

describe('BeatEntries.removeAll', () => {
  it('removes every entry, API and configuration alike, and counts them', async () => {
    const { entries, changes } = await setup();
    await entries.sync([{ name: 'cfg', task: 't', schedule: interval(60) }]);
    expect(await entries.removeAll()).toBe(2);
    expect(await entries.list()).toEqual([]);
    expect(await entries.removeAll()).toBe(0);
    expect(changes.map((c) => c.kind)).toEqual(['added', 'added', 'cleared']);
  });
});

/**
 * A memory store that runs another write (`interleave`) just before a modify's conditional
 * write, as a second process editing the entry at that moment would.
 */
class RacingStore extends MemoryScheduleStore {
  interleave: (() => Promise<void>) | undefined;
  always = false;
  stale = 0;

  override async upsert(
    writes: readonly EntryWrite[],
    mode: UpsertMode,
    now: number,
  ): Promise<UpsertResult[]> {
    const hook = this.interleave;
    if (hook && writes.some((w) => w.revision !== undefined)) {
      if (!this.always) this.interleave = undefined;
      await hook();
    }
    const results = await super.upsert(writes, mode, now);
    this.stale += results.filter((r) => r.status === 'stale').length;
    return results;
  }
}
