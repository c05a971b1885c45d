import type { ApplyOptions } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { expect } from 'vitest';
import { BeatEntries } from './beat-entries.js';
import { Beat, type BeatApp } from './beat.js';
import { interval } from './schedules/interval.js';
import { oneOff } from './schedules/one-off.js';
import type { ScheduleStore } from './store/schedule-store.js';

/** Seconds between two looks at the store: only a wake-up explains a run within a few seconds. */
const POLL_S = 30;
/** How long the test waits for an edit to be acted on: generous, and well under the poll. */
const DEADLINE_MS = 10_000;

interface Sent {
  readonly beat: string;
  readonly entry: string;
  readonly args: readonly unknown[];
  readonly scheduledAt: string;
}

/** An app that records what each beat publishes. */
function recordingApp(beat: string, sent: Sent[]): BeatApp {
  return {
    logger: silentLogger,
    sendTask(
      _task: string,
      args: readonly unknown[] = [],
      _kwargs?: Record<string, unknown>,
      options: ApplyOptions = {},
    ) {
      sent.push({
        beat,
        entry: String(options.headers?.['beat_entry']),
        args,
        scheduledAt: String(options.headers?.['beat_scheduled_at']),
      });
      return { published: Promise.resolve() };
    },
  };
}

/**
 * Two beats, each on its own instance of one store (as two processes), polling only every
 * 30 s; edits go through a third instance. Each edit must be acted on by the leader within
 * {@link DEADLINE_MS}, which only the store's change notices can explain, and each run is
 * published once, by one beat.
 */
export async function editsActedOnAtOnce(open: (id: string) => ScheduleStore): Promise<void> {
  const sent: Sent[] = [];
  const ids = ['beat-a', 'beat-b'];
  const stores = ids.map(open);
  const beats = ids.map(
    (id, i) =>
      new Beat(recordingApp(id, sent), {
        store: stores[i] ?? open(id),
        id,
        maxLoopInterval: POLL_S,
        lockTtl: 120,
      }),
  );
  const editing = open('editor');
  stores.push(editing);
  const editor = new BeatEntries(editing);
  try {
    for (const b of beats) await b.start();
    await expect
      .poll(() => beats.filter((b) => b.role === 'leader').length, { timeout: DEADLINE_MS })
      .toBe(1);
    const startedAt = Date.now();

    // An entry added due in a moment: dispatched when due, not 30 s later.
    await editor.add({ name: 'soon', task: 't.soon', schedule: oneOff(Date.now() + 300) });
    await expect
      .poll(() => sent.map((s) => s.entry), { timeout: DEADLINE_MS, interval: 10 })
      .toEqual(['soon']);

    // A far-off entry rescheduled to now, with new args: dispatched at once, patched.
    await editor.add({ name: 'later', task: 't.later', schedule: interval({ hours: 6 }) });
    await editor.modify('later', { schedule: oneOff(Date.now() + 300), args: ['patched'] });
    await expect
      .poll(() => sent.filter((s) => s.entry === 'later'), { timeout: DEADLINE_MS, interval: 10 })
      .toHaveLength(1);
    expect(sent.find((s) => s.entry === 'later')?.args).toEqual(['patched']);

    // Cleared, then added again under the same name: the new one runs.
    expect(await editor.removeAll()).toBe(2);
    await editor.add({ name: 'soon', task: 't.soon', schedule: oneOff(Date.now() + 300) });
    await expect
      .poll(() => sent.filter((s) => s.entry === 'soon'), { timeout: DEADLINE_MS, interval: 10 })
      .toHaveLength(2);

    expect(Date.now() - startedAt).toBeLessThan(POLL_S * 1000);
    // Each run once, by the leader only.
    expect(new Set(sent.map((s) => `${s.entry}@${s.scheduledAt}`)).size).toBe(sent.length);
    expect(new Set(sent.map((s) => s.beat)).size).toBe(1);
  } finally {
    for (const b of beats) await b.close();
    for (const s of stores) await s.close();
  }
}
