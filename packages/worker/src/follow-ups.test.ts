import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac, type TaskContext } from '@celeriac/client';
import {
  createTaskMessage,
  decodeTaskMessage,
  encodeTaskMessage,
  normalizeSignature,
  silentLogger,
  type TaskMessage,
} from '@celeriac/core';
import { Worker } from './index.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(): Promise<{ app: Celeriac; worker: Worker }> {
  const app = new Celeriac({
    broker: `memory://f-${Math.random().toString(36).slice(2)}`,
    logger: silentLogger,
  });
  const worker = new Worker(app, { concurrency: 2 });
  cleanups.push(async () => {
    await worker.shutdown({ timeout: 1 });
    await app.close();
  });
  return { app, worker };
}

/** The next message published to `queue`, which no worker consumes. */
async function nextOn(app: Celeriac, queue: string): Promise<TaskMessage> {
  const broker = await app.broker();
  await broker.declareQueue(queue);
  return new Promise((resolve) => {
    void broker.consume({
      queues: [queue],
      prefetch: 1,
      onMessage: (d) => {
        resolve(decodeTaskMessage(d.message));
        void d.ack();
      },
    });
  });
}

describe('errbacks (link_error) on a Celeriac worker (memory://)', () => {
  it('runs each errback exactly once with the failed task id, only on the final failure', async () => {
    const { app, worker } = await setup();
    const calls: unknown[][] = [];
    app.task('tasks.flaky', function (this: TaskContext) {
      if (this.retries < 2) this.retry({ countdown: 0, maxRetries: 2 });
      throw new Error('still broken');
    });
    app.task('tasks.errback', (...args: unknown[]) => void calls.push(args));
    await worker.start();
    const failed = app.asyncResult('flaky-' + Math.random());
    const errbacks = [
      normalizeSignature({ task: 'tasks.errback', args: ['extra'] }),
      normalizeSignature({ task: 'tasks.errback', args: ['fixed'], immutable: true }),
    ];
    const broker = await app.broker();
    await broker.publish(
      'celery',
      encodeTaskMessage(createTaskMessage({ name: 'tasks.flaky', id: failed.id, errbacks })),
    );
    await expect(failed.get({ timeout: 5 })).rejects.toThrow('still broken');
    await expect.poll(() => calls.length).toBe(2);
    expect(calls).toContainEqual([failed.id, 'extra']);
    expect(calls).toContainEqual(['fixed']);
    // A later task is served after both: no third call was on its way.
    const done = app.task('tasks.noop', () => 'ok');
    expect(await done.delay().get({ timeout: 5 })).toBe('ok');
    expect(calls).toHaveLength(2);
  });

  it('sends errbacks as Celery does: parent and root ids, one group id', async () => {
    const { app, worker } = await setup();
    app.task('tasks.fail', () => {
      throw new Error('no');
    });
    await worker.start();
    const seen = nextOn(app, 'errbacks');
    const broker = await app.broker();
    await broker.publish(
      'celery',
      encodeTaskMessage(
        createTaskMessage({
          name: 'tasks.fail',
          id: 'failing-id',
          rootId: 'the-root',
          ignoreResult: true,
          errbacks: [normalizeSignature({ task: 'py.errback', options: { queue: 'errbacks' } })],
        }),
      ),
    );
    const eb = await seen;
    expect(eb.headers.task).toBe('py.errback');
    expect(eb.args).toEqual(['failing-id']);
    expect(eb.headers.parent_id).toBe('failing-id');
    expect(eb.headers.root_id).toBe('the-root');
    expect(typeof eb.headers.group).toBe('string');
  });
});

describe('chain steps published by a Celeriac worker (memory://)', () => {
  it('carry every option of the signature onward', async () => {
    const { app, worker } = await setup();
    app.task('tasks.add', (a: number, b: number) => a + b);
    await worker.start();
    const seen = nextOn(app, 'next-step');
    const errback = normalizeSignature({ task: 'py.on_error' });
    const link = normalizeSignature({ task: 'py.after' });
    const step = normalizeSignature({
      task: 'py.mul',
      args: [10],
      options: {
        task_id: 'step-id',
        reply_to: 'python-client-reply-queue',
        expires: 60,
        time_limit: 30,
        soft_time_limit: 20,
        link_error: [errback],
        link: [link],
        priority: 7,
        queue: 'next-step',
        shadow: 'mul-shadow',
      },
    });
    const broker = await app.broker();
    await broker.publish(
      'celery',
      encodeTaskMessage(
        createTaskMessage({ name: 'tasks.add', id: 'first-id', args: [1, 2], chain: [step] }),
      ),
    );
    const next = await seen;
    expect(next.headers.id).toBe('step-id');
    expect(next.args).toEqual([3, 10]);
    expect(next.properties.reply_to).toBe('python-client-reply-queue');
    expect(next.properties.priority).toBe(7);
    expect(next.headers.timelimit).toEqual([30, 20]);
    expect(next.headers.expires).not.toBeNull();
    const expiresIn = Date.parse(next.headers.expires ?? '') - Date.now();
    expect(expiresIn).toBeGreaterThan(50_000);
    expect(expiresIn).toBeLessThanOrEqual(60_000);
    expect(next.headers.shadow).toBe('mul-shadow');
    expect(next.headers.parent_id).toBe('first-id');
    expect(next.headers.root_id).toBe('first-id');
    expect(next.embed.errbacks).toEqual([errback]);
    expect(next.embed.callbacks).toEqual([link]);
  });

  it('routes by routing_key when the step names no queue', async () => {
    const { app, worker } = await setup();
    app.task('tasks.add', (a: number, b: number) => a + b);
    await worker.start();
    const seen = nextOn(app, 'by-key');
    const step = normalizeSignature({ task: 'py.mul', options: { routing_key: 'by-key' } });
    const broker = await app.broker();
    await broker.publish(
      'celery',
      encodeTaskMessage(createTaskMessage({ name: 'tasks.add', args: [1, 1], chain: [step] })),
    );
    expect((await seen).args).toEqual([2]);
  });
});
