import { setTimeout as sleep } from 'node:timers/promises';
import { Celeriac, receiveEvents, type CeleryEvent } from '@celeriac/client';
import { ManualClock, silentLogger, type Logger } from '@celeriac/core';
import { uniqueName } from '@celeriac/testing';
import { Worker } from '@celeriac/worker';
import { describe, expect, inject, it } from 'vitest';
import { Beat } from './beat.js';
import { runTaskId } from './entry.js';
import { interval } from './schedules/interval.js';

const url = inject('redisUrl');
const T0 = Date.parse('2030-01-01T00:00:00Z');

async function until(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('beat events as Celery events (events: true)', () => {
  it('beat-added, beat-submitted, beat-executed, beat-max-instances on celeryev, from the beat id', async () => {
    const queue = uniqueName('beat-ev-q');
    const app = new Celeriac({ broker: url, backend: url, logger: silentLogger });
    app.task('ev.ok', (n: number) => n + 1);
    const worker = new Worker(app, { queues: [queue], concurrency: 1 });
    const seen: CeleryEvent[] = [];
    const receiver = await receiveEvents(app, (e) => seen.push(e), { routingKey: 'beat.#' });
    const clock = new ManualClock(T0 + 1);
    const beat = new Beat(app, {
      id: 'beat-ev@test',
      events: true,
      clock,
      entries: [
        { name: 'ev', task: 'ev.ok', schedule: interval(60), args: [1], options: { queue } },
      ],
    });
    try {
      await beat.syncEntries();
      clock.set(T0 + 60_000);
      await beat.tick(); // no worker yet: the run stays queued
      clock.set(T0 + 120_000);
      await beat.tick(); // skipped: maxInstances
      await worker.start();
      const taskId = runTaskId('default', 'ev', T0 + 60_000);
      await app.asyncResult(taskId).get({ timeout: 10 });
      clock.advance(1000);
      await beat.tick();
      await until('beat-executed', () => seen.some((e) => e.type === 'beat-executed'));
      expect(seen.map((e) => e.type)).toEqual([
        'beat-added',
        'beat-submitted',
        'beat-max-instances',
        'beat-executed',
      ]);
      for (const e of seen) {
        expect(e.hostname).toBe('beat-ev@test');
        expect(e).toMatchObject({ entry: 'ev' });
        expect(typeof e.timestamp).toBe('number');
      }
      expect(seen[1]).toMatchObject({
        name: 'ev.ok',
        uuid: taskId,
        scheduled_at: new Date(T0 + 60_000).toISOString(),
      });
      expect(seen[2]).toMatchObject({ running: 1, max_instances: 1 });
      expect(seen[3]).toMatchObject({ uuid: taskId, result: '2' });
    } finally {
      await beat.close();
      await receiver.close();
      await worker.shutdown({ timeout: 1 });
      const backend = await app.resultBackend();
      await backend.forget(runTaskId('default', 'ev', T0 + 60_000));
      await app.close();
    }
  });

  it('off by default; on a broker without events, one warning and no error', async () => {
    const warnings: string[] = [];
    const logger: Logger = {
      ...silentLogger,
      warn: (a: unknown, b?: string) => void warnings.push(typeof a === 'string' ? a : (b ?? '')),
      child: () => logger,
    };
    const app = new Celeriac({ broker: 'memory://beat-ev-none', logger: silentLogger });
    const quiet = new Beat(app, { logger });
    expect(quiet.options.events).toBe(false);
    expect(quiet.events.listens('submitted')).toBe(false);
    const beat = new Beat(app, { events: true, logger, clock: new ManualClock(T0) });
    await beat.add({ name: 'a', task: 't', schedule: interval(60) });
    await beat.pause('a');
    await beat.close();
    await quiet.close();
    await app.close();
    expect(warnings.filter((w) => w.includes('the broker has no events'))).toHaveLength(1);
  });
});
