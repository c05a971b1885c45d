/**
 * A Python Celery client sends a task whose body a Celeriac worker cannot decode (a pickle
 * body, a corrupt JSON or msgpack one) on Redis: the worker dead-letters it and stores the
 * FAILURE a Celery worker would (kombu's ContentDisallowed or DecodeError), so Python's
 * `AsyncResult.get()` raises that exception instead of waiting forever.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Celeriac } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { requirePythonCelery, runPythonScript, uniqueName } from '@celeriac/testing';
import { Worker } from '../index.js';

const redisUrl = inject('redisUrl');

interface Outcome {
  id: string;
  state: string;
  error_type?: string;
  error_module?: string;
  error_message?: string;
}

describe('undecodable bodies from Python Celery (Redis)', () => {
  const queue = uniqueName('undecodable');
  let app: Celeriac;
  let worker: Worker;

  beforeAll(async () => {
    requirePythonCelery();
    app = new Celeriac({ broker: redisUrl, backend: redisUrl, logger: silentLogger });
    app.task('js.add', (a: number, b: number) => a + b);
    worker = new Worker(app, { queues: [queue], concurrency: 2 });
    await worker.start();
  });

  afterAll(async () => {
    await worker?.shutdown({ timeout: 5 });
    await app?.close();
  });

  async function send(kind: 'pickle' | 'corrupt-json' | 'corrupt-msgpack'): Promise<Outcome> {
    return runPythonScript<Outcome>('interop_undecodable.py', ['js.add', queue, kind], {
      brokerUrl: redisUrl,
    });
  }

  async function deadLetterIds(): Promise<unknown[]> {
    const broker = await app.broker();
    return (await broker.deadLetters.list(queue)).map((d) => d.message.headers['id']);
  }

  it('a pickle body: get() raises kombu ContentDisallowed, and the message is a dead letter', async () => {
    const out = await send('pickle');
    expect(out).toMatchObject({
      state: 'FAILURE',
      error_type: 'ContentDisallowed',
      error_module: 'kombu.exceptions',
      error_message:
        'Refusing to deserialize untrusted content of type pickle (application/x-python-serialize)',
    });
    expect(await deadLetterIds()).toContain(out.id);
  });

  it.each(['corrupt-json', 'corrupt-msgpack'] as const)(
    'a %s body: get() raises kombu DecodeError, and the message is a dead letter',
    async (kind) => {
      const out = await send(kind);
      expect(out).toMatchObject({
        state: 'FAILURE',
        error_type: 'DecodeError',
        error_module: 'kombu.exceptions',
      });
      expect(out.error_message).not.toBe('');
      expect(await deadLetterIds()).toContain(out.id);
    },
  );

  it('keeps serving decodable tasks', async () => {
    expect(await app.sendTask('js.add', [2, 3], {}, { queue }).get({ timeout: 10 })).toBe(5);
    expect(worker.state).toBe('running');
  });
});
