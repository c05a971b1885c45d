/**
 * JSON as Python writes it, against real Python Celery on Redis: integers beyond 2^53 and
 * NaN / Infinity, which `json.dumps` sends as bare tokens. Celeriac must read them without
 * rounding or refusing the message, hand them to the task (BigInt for the integers), and
 * write them back so Python reads the values it sent.
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

const redisUrl = inject('redisUrl');

describe('JSON fidelity with Python Celery (Redis)', () => {
  const jsQueue = uniqueName('js-fidelity');
  const pyQueue = uniqueName('py-fidelity');
  let app: Celeriac;
  let worker: Worker;
  let py: CeleryWorkerHandle;

  beforeAll(async () => {
    requirePythonCelery();
    app = new Celeriac({ broker: redisUrl, backend: redisUrl, logger: silentLogger });
    app.task('js.describe', (...args: unknown[]) => ({ args, types: args.map((a) => typeof a) }));
    worker = new Worker(app, { queues: [jsQueue], concurrency: 2 });
    await worker.start();
    py = await startCeleryWorker({ brokerUrl: redisUrl, queues: [pyQueue], serializer: 'json' });
  });

  afterAll(async () => {
    await py?.stop();
    await worker?.shutdown({ timeout: 5 });
    await app?.close();
  });

  it('a Python client sends big integers and NaN / Infinity; the task sees them exactly and Python gets them back', async () => {
    const out = await runPythonScript<{ state: string; result: string }>(
      'interop_client.py',
      [
        'js.describe',
        '[18446744073709551616, -9007199254740993, 9007199254740991, NaN, Infinity, -Infinity, 1e20, 12.5]',
        '--queue',
        jsQueue,
        '--repr',
      ],
      { brokerUrl: redisUrl },
    );
    expect(out.state).toBe('SUCCESS');
    expect(out.result).toBe(
      "{'args': [18446744073709551616, -9007199254740993, 9007199254740991, nan, inf, -inf, 1e+20, 12.5], " +
        "'types': ['bigint', 'bigint', 'number', 'number', 'number', 'number', 'number', 'number']}",
    );
  });

  it('a Celeriac client sends them to a Python worker and reads back what Python returns', async () => {
    const sent = [2n ** 64n, -(2n ** 53n + 1n), Number.NaN, Infinity, -Infinity, 1e20, 2 ** 60];
    const r = app.sendTask<{ args: unknown[] }>('py.echo', sent, {}, { queue: pyQueue });
    const value = await r.get({ timeout: 30 });
    expect(value.args).toEqual(sent);
    expect(typeof value.args[5]).toBe('number');
    expect(typeof value.args[6]).toBe('number');
  });
});
