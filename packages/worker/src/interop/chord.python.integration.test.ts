/**
 * Celery's Redis native chord join across Python and Node: a chord built in Python Celery
 * whose header runs on both a Python worker and a Celeriac worker completes, with its body
 * on either side run exactly once, and Python's `get()` returns the body's value; a failing
 * Celeriac header part fails the chord as Celery does (no body, the body's errback once, a
 * ChordError for Python's `get()`).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Celeriac } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import {
  requirePythonCelery,
  runPythonScript,
  startCeleryWorker,
  uniqueName,
  type CeleryWorkerHandle,
} from '@celeriac/testing';
import { Worker } from '../index.js';

interface ChordOutcome {
  id: string;
  group_id: string | null;
  state: string;
  result?: unknown;
  error_type?: string;
  error_module?: string;
  error_message?: string;
}

const redisUrl = inject('redisUrl');

// Celery writes the join's entries (`.j`) in its result_serializer, as it writes results.
describe.each(['json', 'msgpack'] as const)(
  'a chord built in Python Celery (%s results), header on Python and Celeriac workers',
  (resultSerializer) => {
    const jsQueue = uniqueName('js');
    const pyQueue = uniqueName('py');
    const env = { brokerUrl: redisUrl, resultSerializer } as const;
    let app: Celeriac;
    let worker: Worker;
    let py: CeleryWorkerHandle;
    const bodyCalls: unknown[][] = [];
    const errbackCalls: unknown[] = [];

    beforeAll(async () => {
      requirePythonCelery();
      app = new Celeriac({
        broker: redisUrl,
        backend: redisUrl,
        logger: silentLogger,
        resultSerializer,
      });
      app.task('js.add', (a: number, b: number) => a + b);
      app.task('js.fail', (message: string) => {
        const err = new Error(message);
        err.name = 'ValueError';
        throw err;
      });
      app.task('js.tlist', (numbers: number[]) => {
        bodyCalls.push(numbers);
        return numbers;
      });
      app.task('js.errback', (taskId: string) => {
        errbackCalls.push(taskId);
        return null;
      });
      worker = new Worker(app, { queues: [jsQueue], concurrency: 4 });
      await worker.start();
      py = await startCeleryWorker({ ...env, queues: [pyQueue] });
    });

    afterAll(async () => {
      await worker?.shutdown({ timeout: 5 });
      await app?.close();
      await py?.stop();
    });

    const header = (): [string, number[], string][] => [
      ['py.add', [1, 2], pyQueue],
      ['js.add', [3, 4], jsQueue],
      ['py.add', [5, 6], pyQueue],
      ['js.add', [7, 8], jsQueue],
      ['js.add', [9, 10], jsQueue],
    ];

    it('completes with a Python body, and Python get() returns its value', async () => {
      const out = await runPythonScript<ChordOutcome>(
        'interop_chord.py',
        [JSON.stringify({ header: header(), body: ['py.tsum', [], pyQueue] })],
        env,
      );
      expect(out).toMatchObject({ state: 'SUCCESS', result: 3 + 7 + 11 + 15 + 19 });
    });

    it('completes with a Celeriac body, run once with the results in header order', async () => {
      bodyCalls.length = 0;
      const out = await runPythonScript<ChordOutcome>(
        'interop_chord.py',
        [JSON.stringify({ header: header(), body: ['js.tlist', [], jsQueue] })],
        env,
      );
      expect(out).toMatchObject({ state: 'SUCCESS', result: [3, 7, 11, 15, 19] });
      expect(bodyCalls).toEqual([[3, 7, 11, 15, 19]]);
      // The join's keys are gone once the body is published.
      const { Redis } = await import('ioredis');
      const redis = new Redis(redisUrl);
      const left = await redis.exists(
        ...['.j', '.t', '.s'].map((s) => `celery-taskset-meta-${out.group_id ?? ''}${s}`),
      );
      await redis.quit();
      expect(left).toBe(0);
    });

    it('a failing Celeriac header part: no body, its errback once, get() raises, ChordError on the body', async () => {
      bodyCalls.length = 0;
      errbackCalls.length = 0;
      const out = await runPythonScript<ChordOutcome>(
        'interop_chord.py',
        [
          JSON.stringify({
            header: [
              // All on Celeriac, so the Celeriac worker is the one that joins the failed chord.
              ['js.add', [1, 2], jsQueue],
              ['js.fail', ['boom'], jsQueue],
              ['js.add', [3, 4], jsQueue],
            ],
            body: ['js.tlist', [], jsQueue],
            body_errback: ['js.errback', [], jsQueue],
          }),
        ],
        env,
      );
      // Celery 5.2's get() on the body re-raises the failed header part's error (its parent)...
      expect(out).toMatchObject({ error_type: 'ValueError', error_message: 'boom' });
      // ...and the body's own result is the ChordError Celery stores when the join fails.
      await expect
        .poll(
          async () =>
            (
              await runPythonScript<{ state: string; info: unknown }>(
                'interop_result.py',
                [out.id],
                env,
              )
            ).info,
          { timeout: 10_000, interval: 200 },
        )
        .toMatchObject({ error_type: 'ChordError' });
      const body = await runPythonScript<{ state: string; info: { error_message: string } }>(
        'interop_result.py',
        [out.id],
        env,
      );
      expect(body.state).toBe('FAILURE');
      expect(body.info.error_message).toMatch(
        /^Dependency [0-9a-f-]{36} raised ValueError\('boom'\)$/,
      );
      await expect.poll(() => errbackCalls.length, { timeout: 10_000 }).toBe(1);
      expect(errbackCalls).toEqual([out.id]);
      expect(bodyCalls).toEqual([]);
    });
  },
);
