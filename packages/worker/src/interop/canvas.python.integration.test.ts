/**
 * Python Celery's canvas against a Celeriac worker: `chunks` / `map` / `starmap` of a
 * Celeriac task run by Celery's built-ins on the Celeriac worker; `link_error` on a Celeriac
 * task runs its Python errback exactly once; a Python chain Python → Celeriac → Python on
 * RabbitMQ with the rpc:// backend returns its final value to the Python client.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celeriac } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import {
  rabbitMqForTests,
  requirePythonCelery,
  runPythonScript,
  startCeleryWorker,
  startRedisServer,
  uniqueName,
  type CeleryWorkerHandle,
  type PythonEnv,
  type RabbitMqForTests,
  type RedisServerHandle,
} from '@celeriac/testing';
import { Worker } from '../index.js';

function defineTasks(app: Celeriac): void {
  app.task('js.add', (a: number, b: number) => a + b);
  app.task('js.double', (x: number) => x * 2);
  app.task('js.fail', (message: string) => {
    const err = new Error(message);
    err.name = 'ValueError';
    throw err;
  });
}

interface Started {
  app: Celeriac;
  worker: Worker;
  python: CeleryWorkerHandle;
}

async function start(
  env: PythonEnv,
  backend: string,
  jsQueue: string,
  pyQueue: string,
): Promise<Started> {
  requirePythonCelery();
  const app = new Celeriac({ broker: env.brokerUrl, backend, logger: silentLogger });
  defineTasks(app);
  const worker = new Worker(app, { queues: [jsQueue], concurrency: 4 });
  await worker.start();
  const python = await startCeleryWorker({ ...env, queues: [pyQueue] });
  return { app, worker, python };
}

async function stop(s: Started | undefined): Promise<void> {
  await s?.python.stop();
  await s?.worker.shutdown({ timeout: 5 });
  await s?.app.close();
}

describe('Python canvas → Celeriac worker (Redis)', () => {
  const jsQueue = uniqueName('js-canvas');
  const pyQueue = uniqueName('py-canvas');
  // A Redis of its own: with other test files running beside this one on the shared Redis, the
  // Python errback's result once never reached the waiting client (link_error below).
  let redis: RedisServerHandle | undefined;
  let env: PythonEnv;
  let s: Started | undefined;
  const run = <T>(args: string[]): Promise<T> =>
    runPythonScript<T>(
      'interop_canvas.py',
      [...args, '--js-queue', jsQueue, '--py-queue', pyQueue],
      env,
    );

  beforeAll(async () => {
    redis = await startRedisServer();
    env = { brokerUrl: redis.url };
    s = await start(env, redis.url, jsQueue, pyQueue);
  });
  afterAll(async () => {
    await stop(s);
    await redis?.stop();
  });

  it('add.chunks(zip(range(10), range(10)), 3) returns each chunk', async () => {
    const out = await run<{ result: number[][] }>(['chunks']);
    expect(out.result).toEqual([[0, 2, 4], [6, 8, 10], [12, 14, 16], [18]]);
  });

  it('xmap(double, [1, 2, 3]) returns each value', async () => {
    expect((await run<{ result: number[] }>(['map'])).result).toEqual([2, 4, 6]);
  });

  it('xstarmap(add, [[1, 2], [3, 4]]) returns each sum', async () => {
    expect((await run<{ result: number[] }>(['starmap'])).result).toEqual([3, 7]);
  });

  it('link_error on a failing Celeriac task runs the Python errback exactly once', async () => {
    const errbackId = randomUUID();
    const out = await run<{
      failed_id: string;
      error_type: string | null;
      errback: { args: unknown[] };
    }>(['link_error', '--errback-id', errbackId]);
    expect(out.error_type).toBe('ValueError');
    // Celery's remote errback: errback.apply_async((task_id,)).
    expect(out.errback.args).toEqual([out.failed_id]);
    // The Python worker logged one run of it; a task sent after it is done proves none followed.
    const marker = await runPythonScript<{ result: unknown }>(
      'interop_client.py',
      ['py.add', '[1, 1]', '--queue', pyQueue],
      env,
    );
    expect(marker.result).toBe(2);
    const runs = s!.python.output().split(`py.echo[${errbackId}] succeeded`).length - 1;
    expect(runs).toBe(1);
  });
});

describe('Python chain Python → Celeriac → Python on RabbitMQ with rpc://', () => {
  const jsQueue = uniqueName('js-chain');
  const pyQueue = uniqueName('py-chain');
  let rabbit: RabbitMqForTests | undefined;
  let env: PythonEnv;
  let s: Started | undefined;

  beforeAll(async () => {
    rabbit = await rabbitMqForTests();
    env = { brokerUrl: rabbit.url, backendUrl: 'rpc://' };
    s = await start(env, 'rpc://', jsQueue, pyQueue);
  });
  afterAll(async () => {
    await stop(s);
    await rabbit?.release();
  });

  it('returns the final value to the Python client', async () => {
    const out = await runPythonScript<{ result: number }>(
      'interop_canvas.py',
      ['chain', '--js-queue', jsQueue, '--py-queue', pyQueue],
      env,
    );
    expect(out.result).toBe(10);
  });
});
