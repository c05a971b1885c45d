import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '@celeriac/core';
import { afterAll, describe, expect, it } from 'vitest';
import * as beat from '../index.js';
import * as sqlite from '../sqlite/index.js';
import {
  DOC_NOW,
  examplesOf,
  programOf,
  toFunctionBody,
  typeCheck,
  type Example,
} from './docs-harness.test-helper.js';
import type { SchedulerOptions } from './scheduler.js';

const doc = readFileSync(new URL('../../../../docs/scheduler.md', import.meta.url), 'utf8');
const examples = examplesOf(doc);
const dir = mkdtempSync(join(tmpdir(), 'celeriac-scheduler-docs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

class StopExample extends Error {}

const full = (t: number): string => new Date(t).toISOString().slice(0, 19).replace('T', ' ');

/** Runs one example on a manual clock and returns each job's first runs, as the doc writes them. */
async function run(
  example: Example,
  index: number,
): Promise<{ got: string[][]; want: string[][] }> {
  const clock = new ManualClock(DOC_NOW);
  const schedulers: beat.Scheduler[] = [];
  const stores: sqlite.SqliteScheduleStore[] = [];
  const order: string[] = [];
  const runs = new Map<string, { scheduledAt: number; ranAt: number }[]>();
  const handlers: (() => void)[] = [];
  const want = example.expected;
  const satisfied = (): boolean =>
    order.length >= want.length &&
    want.every((w, i) => (runs.get(order[i] ?? '')?.length ?? 0) >= w.length);

  class DocScheduler extends beat.Scheduler {
    constructor(options: SchedulerOptions = {}) {
      super({ clock, timezone: 'UTC', ...options });
      schedulers.push(this);
      this.on('added', (e) => order.push(e.jobId));
      this.on('submitted', (e) => {
        let list = runs.get(e.jobId);
        if (!list) runs.set(e.jobId, (list = []));
        list.push({ scheduledAt: e.scheduledAt.getTime(), ranAt: clock.now() });
      });
    }
  }
  class DocSqliteStore extends sqlite.SqliteScheduleStore {
    constructor(options: sqlite.SqliteScheduleStoreOptions) {
      super({ ...options, url: `sqlite://${join(dir, 'docs.db')}`, namespace: `example-${index}` });
      stores.push(this);
    }
  }
  const modules: Record<string, unknown> = {
    '@celeriac/beat': { ...beat, Scheduler: DocScheduler },
    '@celeriac/beat/sqlite': { ...sqlite, SqliteScheduleStore: DocSqliteStore },
    'node:timers/promises': {
      // A loop's sleep moves the clock; the example ends once its runs have been seen.
      setTimeout: (ms: number) => {
        clock.advance(ms);
        if (satisfied()) throw new StopExample();
        if (clock.now() - DOC_NOW > 400 * 86_400_000) throw new Error('the loop never ends');
        return Promise.resolve();
      },
    },
  };
  const fakeProcess = {
    once: (_: string, fn: () => void) => handlers.push(fn),
    on: (_: string, fn: () => void) => handlers.push(fn),
  };
  const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };
  const AsyncFunction = (Object.getPrototypeOf(async () => undefined) as { constructor: unknown })
    .constructor as new (...args: string[]) => (...values: unknown[]) => Promise<void>;
  const body = new AsyncFunction(
    '__import',
    'console',
    'process',
    toFunctionBody(programOf(example.code)),
  );
  const importOf = (name: string): unknown => {
    const m = modules[name];
    if (m === undefined) throw new Error(`${example.where}: the test has no module "${name}"`);
    return m;
  };
  try {
    await body(importOf, quiet, fakeProcess);
  } catch (err) {
    if (!(err instanceof StopExample)) throw err;
  }
  // Then on: step the clock to each next due time until every job has had its runs.
  for (let step = 0; step < 2000 && !satisfied(); step++) {
    const live = schedulers.filter((s) => s.state === 'idle' || s.state === 'running');
    let next: number | undefined;
    for (const s of live) {
      const at = (await s.nextRun())?.getTime();
      if (at !== undefined && (next === undefined || at < next)) next = at;
    }
    if (next === undefined) break;
    if (next > clock.now()) clock.set(next);
    for (const s of live) await s.runPending();
  }
  for (const h of handlers) h();
  for (const s of schedulers) await s.shutdown();
  for (const s of stores) await s.close();
  expect(order, `${example.where}: jobs created`).toHaveLength(want.length);
  const got = want.map((w, i) =>
    (runs.get(order[i] ?? '') ?? []).slice(0, Math.max(w.length, 1)).map((r, j) => {
      const e = w[j];
      if (e && e.toleranceMs > 0)
        return Math.abs(r.ranAt - e.at) <= e.toleranceMs ? e.text : `~${full(r.ranAt)}`;
      return full(r.scheduledAt);
    }),
  );
  return { got, want: want.map((w) => w.map((r) => r.text)) };
}

describe('docs/scheduler.md', () => {
  it('has examples, and every ts block says what its jobs do', () => {
    expect(examples.length).toBeGreaterThan(40);
  });

  it('type-checks every example', () => {
    const programs = new Map(examples.map((e) => [e.where, programOf(e.code)]));
    expect(typeCheck(programs)).toEqual([]);
  }, 60_000);

  examples.forEach((example, index) => {
    it(`${example.where}: runs as the doc says`, async () => {
      const { got, want } = await run(example, index);
      expect(got, `${example.where}\n${example.code}`).toEqual(want);
    });
  });
});
