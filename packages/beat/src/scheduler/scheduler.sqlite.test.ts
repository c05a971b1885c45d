import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '@celeriac/core';
import { afterAll, describe, expect, it } from 'vitest';
import { interval } from '../schedules/interval.js';
import { SqliteScheduleStore } from '../sqlite/sqlite-schedule-store.js';
import { Scheduler } from './scheduler.js';

const dir = mkdtempSync(join(tmpdir(), 'celeriac-scheduler-'));
const url = `sqlite://${join(dir, 'jobs.db')}`;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.parse('2025-06-02T09:00:00Z');
const MIN = 60_000;

describe('Scheduler on a shared (SQLite) store', () => {
  it('needs job ids; two schedulers registering one job run each due run once, and hand over on shutdown', async () => {
    const clock = new ManualClock(T0);
    const ran: string[] = [];
    const make = (who: string) => {
      const s = new Scheduler({
        store: new SqliteScheduleStore({ url, namespace: 'two' }),
        clock,
        timezone: 'UTC',
        id: who,
      });
      return {
        s,
        add: () =>
          s.addJob(() => ran.push(who), interval({ minutes: 1 }), {
            id: 'sync',
            replaceExisting: true,
          }),
      };
    };
    const a = make('a');
    const b = make('b');
    await expect(a.s.addJob(() => undefined, interval(60))).rejects.toThrow(/"id" is required/);
    await a.add();
    await b.add();
    expect((await b.s.getJobs()).map((j) => j.id)).toEqual(['sync']);
    for (let i = 1; i <= 3; i++) {
      clock.set(T0 + i * MIN);
      await a.s.runPending();
      await b.s.runPending();
    }
    expect(ran).toEqual(['a', 'a', 'a']);
    await a.s.shutdown();
    clock.set(T0 + 4 * MIN);
    expect(await b.s.runPending()).toBe(1);
    expect(ran).toEqual(['a', 'a', 'a', 'b']);
    await b.s.shutdown();
  });
});
