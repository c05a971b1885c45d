/**
 * Redis results in msgpack with real Python Celery (issue 11, wire fidelity): a Python worker
 * whose app sets `result_serializer='msgpack'` stores results a Celeriac client reads; a
 * Celeriac worker with `resultSerializer: 'msgpack'` stores results a Python client whose app
 * sets `result_serializer='msgpack'` (and so decodes every result as msgpack) reads.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Celeriac, TaskError, currentTask } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import {
  requirePythonCelery,
  runPythonScript,
  startCeleryWorker,
  uniqueName,
  type CeleryWorkerHandle,
} from '@celeriac/testing';
import { Worker } from '../index.js';

interface PyOutcome {
  id: string;
  state: string;
  result?: unknown;
  error_type?: string;
  error_module?: string;
  error_message?: string;
  info?: unknown;
}

const redisUrl = inject('redisUrl');
const env = { brokerUrl: redisUrl, resultSerializer: 'msgpack' } as const;
let raw: Redis;

/** The first byte stored for a task: a msgpack map starts 0x80-0x8f, 0xde or 0xdf. */
async function storedFormat(id: string): Promise<'json' | 'msgpack' | 'other'> {
  const b = (await raw.getBuffer(`celery-task-meta-${id}`))?.[0];
  if (b === 0x7b) return 'json';
  if (b !== undefined && ((b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf)) return 'msgpack';
  return 'other';
}

beforeAll(() => {
  requirePythonCelery();
  raw = new Redis(redisUrl);
});

afterAll(() => {
  raw?.disconnect();
});

describe("Celeriac client → Python worker with result_serializer='msgpack'", () => {
  const queue = uniqueName('py');
  let app: Celeriac;
  let py: CeleryWorkerHandle;

  beforeAll(async () => {
    py = await startCeleryWorker({ ...env, queues: [queue] });
    // The reader keeps the default resultSerializer: reading goes by the stored bytes.
    app = new Celeriac({
      broker: redisUrl,
      backend: redisUrl,
      logger: silentLogger,
      defaultQueue: queue,
    });
  });

  afterAll(async () => {
    await app?.close();
    await py?.stop();
  });

  it('AsyncResult.get() returns the value Python stored as msgpack', async () => {
    const r = app.sendTask('py.echo', [1, 'two', [3]], { four: 4.5 });
    expect(await r.get({ timeout: 20 })).toEqual({
      args: [1, 'two', [3]],
      kwargs: { four: 4.5 },
    });
    expect(await storedFormat(r.id)).toBe('msgpack');
    const doc = await (await app.resultBackend()).get(r.id);
    expect(doc).toMatchObject({ status: 'SUCCESS', traceback: null, children: [] });
    expect(doc?.date_done).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/);
  });

  it("rejects with the Python error's type, module, message and traceback", async () => {
    const r = app.sendTask('py.fail', ['broken']);
    const err = await r.get({ timeout: 20 }).catch((e: unknown) => e);
    expect(await storedFormat(r.id)).toBe('msgpack');
    expect(err).toBeInstanceOf(TaskError);
    expect((err as TaskError).type).toBe('ValueError');
    expect((err as TaskError).module).toBe('builtins');
    expect((err as TaskError).remoteMessage).toBe('broken');
    expect((err as TaskError).traceback).toContain('Traceback');
  });
});

describe("Python client with result_serializer='msgpack' → Celeriac worker with resultSerializer 'msgpack'", () => {
  const queue = uniqueName('js');
  let app: Celeriac;
  let worker: Worker;

  beforeAll(async () => {
    app = new Celeriac({
      broker: redisUrl,
      backend: redisUrl,
      logger: silentLogger,
      resultSerializer: 'msgpack',
    });
    app.task('js.add', (a: number, b: number) => a + b);
    app.task('js.fail', (message: string) => {
      const err = new Error(message);
      err.name = 'ValueError';
      throw err;
    });
    app.task('js.bytes', () => Buffer.from([0x00, 0xff, 0x80]));
    app.task('js.progress', async () => {
      await currentTask().updateState('PROGRESS', { current: 3, total: 10 });
      await new Promise((r) => setTimeout(r, 3000));
      return 'done';
    });
    worker = new Worker(app, { queues: [queue], concurrency: 2 });
    await worker.start();
  });

  afterAll(async () => {
    await worker?.shutdown({ timeout: 5 });
    await app?.close();
  });

  it("Python's get() returns the value", async () => {
    const out = await runPythonScript<PyOutcome>(
      'interop_client.py',
      ['js.add', '[2, 3]', '--queue', queue],
      env,
    );
    expect(out).toMatchObject({ state: 'SUCCESS', result: 5 });
    expect(await storedFormat(out.id)).toBe('msgpack');
  });

  it('a binary result reaches Python as bytes (JSON could not carry it)', async () => {
    const out = await runPythonScript<PyOutcome>(
      'interop_client.py',
      ['js.bytes', '[]', '--queue', queue, '--repr'],
      env,
    );
    expect(out).toMatchObject({ state: 'SUCCESS', result: String.raw`b'\x00\xff\x80'` });
  });

  it("Python's get() re-raises the error with its type and message", async () => {
    const out = await runPythonScript<PyOutcome>(
      'interop_client.py',
      ['js.fail', '["no good"]', '--queue', queue],
      env,
    );
    expect(out).toMatchObject({
      state: 'FAILURE',
      error_type: 'ValueError',
      error_module: 'builtins',
      error_message: 'no good',
    });
  });

  it('Python sees a custom state and its meta', async () => {
    const sent = await runPythonScript<PyOutcome>(
      'interop_client.py',
      ['js.progress', '[]', '--queue', queue, '--no-wait'],
      env,
    );
    await expect
      .poll(
        async () => (await runPythonScript<PyOutcome>('interop_result.py', [sent.id], env)).state,
        { timeout: 8000, interval: 200 },
      )
      .toBe('PROGRESS');
    const seen = await runPythonScript<PyOutcome>('interop_result.py', [sent.id], env);
    expect(seen.info).toEqual({ current: 3, total: 10 });
  });
});
