import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac, TaskError, currentTask, type TaskContext } from '@celeriac/client';
import { createTaskMessage, encodeTaskMessage, silentLogger } from '@celeriac/core';
import { Worker } from './index.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(
  workerOptions: ConstructorParameters<typeof Worker>[1] = {},
): Promise<{ app: Celeriac; worker: Worker }> {
  const app = new Celeriac({
    broker: `memory://w-${Math.random().toString(36).slice(2)}`,
    logger: silentLogger,
  });
  const worker = new Worker(app, { concurrency: 4, ...workerOptions });
  cleanups.push(async () => {
    await worker.shutdown({ timeout: 1 });
    await app.close();
  });
  return { app, worker };
}

describe('Worker on memory://', () => {
  it('runs delay() → get() end to end', async () => {
    const { app, worker } = await setup();
    const add = app.task('tasks.add', (a: number, b: number) => a + b);
    await worker.start();
    expect(await add.delay(2, 3).get({ timeout: 5 })).toBe(5);
    const many = await Promise.all(
      Array.from({ length: 200 }, (_, i) => add.delay(i, 1).get({ timeout: 5 })),
    );
    expect(many).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });

  it('stores a failure and rejects get() with a TaskError that has the type and message', async () => {
    const { app, worker } = await setup();
    const boom = app.task('tasks.boom', (what: string) => {
      throw new TypeError(`bad ${what}`);
    });
    await worker.start();
    const r = boom.delay('input');
    const err = await r.get({ timeout: 5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskError);
    const te = err as TaskError;
    expect(te.type).toBe('TypeError');
    expect(te.module).toBe('builtins');
    expect(te.remoteMessage).toBe('bad input');
    expect(te.code).toBe('CELERIAC_ERR_TASK_FAILED');
    expect(te.traceback).toContain('TypeError: bad input');
    expect(await r.state()).toBe('FAILURE');
    expect(await r.failed()).toBe(true);
    const returned = await r.get({ propagate: false });
    expect(returned).toBeInstanceOf(TaskError);
  });

  it('dead-letters an unknown task, stores NotRegistered, and keeps serving', async () => {
    const { app, worker } = await setup();
    const ok = app.task('tasks.ok', () => 'fine');
    await worker.start();
    const ghost = app.sendTask('tasks.ghost', [1]);
    const err = await ghost.get({ timeout: 5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskError);
    expect((err as TaskError).type).toBe('NotRegistered');
    expect((err as TaskError).module).toBe('celery.exceptions');
    const broker = await app.broker();
    const dead = await broker.deadLetters.list('celery');
    expect(dead).toHaveLength(1);
    expect(dead[0]?.reason.code).toBe('CELERIAC_ERR_UNKNOWN_TASK');
    expect(dead[0]?.message.headers['id']).toBe(ghost.id);
    expect(await ok.delay().get({ timeout: 5 })).toBe('fine');
    expect(worker.state).toBe('running');
  });

  it('dead-letters malformed messages with the reason and keeps serving', async () => {
    const { app, worker } = await setup();
    const ok = app.task('tasks.ok', () => 'fine');
    await worker.start();
    const broker = await app.broker();
    const good = encodeTaskMessage(createTaskMessage({ name: 'tasks.ok' }));
    await broker.publish('celery', { ...good, body: Buffer.from('{not json') });
    await broker.publish('celery', { ...good, headers: { ...good.headers, task: undefined } });
    await broker.publish('celery', { ...good, contentType: 'application/x-python-serialize' });
    await broker.publish('celery', { ...good, body: Buffer.from(JSON.stringify([[], [], {}])) });
    expect(await ok.delay().get({ timeout: 5 })).toBe('fine');
    await expect.poll(() => broker.deadLetters.count('celery')).toBe(4);
    const reasons = (await broker.deadLetters.list('celery')).map(
      (d) => `${d.reason.code}: ${d.reason.message}`,
    );
    expect(reasons.some((r) => /MALFORMED_MESSAGE.*body/.test(r))).toBe(true);
    expect(reasons.some((r) => /MALFORMED_MESSAGE.*"task"/.test(r))).toBe(true);
    expect(reasons.some((r) => /UNSUPPORTED_CONTENT_TYPE/.test(r))).toBe(true);
    expect(reasons.some((r) => /kwargs must be a mapping/.test(r))).toBe(true);
    // An operator replays a dead letter once the producer is fixed: here the one with a bad content type stays bad.
    expect(worker.state).toBe('running');
  });

  it('never runs more than `concurrency` tasks at once', async () => {
    const { app, worker } = await setup({ concurrency: 3, prefetch: 10 });
    let running = 0;
    let peak = 0;
    const slow = app.task('tasks.slow', async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 20));
      running--;
      return peak;
    });
    await worker.start();
    await Promise.all(Array.from({ length: 20 }, () => slow.delay().get({ timeout: 5 })));
    expect(peak).toBe(3);
  });

  it('gives the task its context through `this` and currentTask()', async () => {
    const { app, worker } = await setup();
    const probe = app.task('tasks.probe', function (this: TaskContext<{ k: number }>, a: number) {
      const ctx = currentTask();
      return {
        a,
        k: this.kwargs.k,
        sameId: ctx.id === this.id,
        id: this.id,
        queue: this.queue,
        aborted: this.signal.aborted,
      };
    });
    await worker.start();
    const r = probe.applyAsync([1], { k: 2 });
    expect(await r.get({ timeout: 5 })).toEqual({
      a: 1,
      k: 2,
      sameId: true,
      id: r.id,
      queue: 'celery',
      aborted: false,
    });
  });

  it("asyncContext 'auto' (default): async tasks keep their context across awaits; subtasks get parent and root ids", async () => {
    const { app, worker } = await setup();
    const child = app.task('tasks.child', function (this: TaskContext) {
      return { parentId: this.parentId, rootId: this.rootId };
    });
    const parent = app.task('tasks.parent', async function (this: TaskContext) {
      await new Promise((r) => setTimeout(r, 5));
      const sameAfterAwait = currentTask().id === this.id;
      const ids = await child.delay().get({ timeout: 5 });
      return { sameAfterAwait, ...ids };
    });
    const plain = app.task('tasks.plain', (): Promise<{ during: string; inCallback: string }> => {
      const during = currentTask().id;
      return Promise.resolve().then(() => {
        let inCallback = '';
        try {
          inCallback = currentTask().id;
        } catch (err) {
          inCallback = (err as Error).message;
        }
        return { during, inCallback };
      });
    });
    await worker.start();
    const r = parent.delay();
    expect(await r.get({ timeout: 5 })).toEqual({
      sameAfterAwait: true,
      parentId: r.id,
      rootId: r.id,
    });
    const p = plain.delay();
    const out = await p.get({ timeout: 5 });
    // A plain function has its context while it is being called, not in its promise callbacks.
    expect(out.during).toBe(p.id);
    expect(out.inCallback).toMatch(/declared async/);
  });

  it('asyncContext true follows a plain function into its promise callbacks', async () => {
    const { app, worker } = await setup({ asyncContext: true });
    const plain = app.task('tasks.plain-als', () => Promise.resolve().then(() => currentTask().id));
    await worker.start();
    const r = plain.delay();
    expect(await r.get({ timeout: 5 })).toBe(r.id);
  });

  it('asyncContext false: the context during the call and through `this`, not after an await', async () => {
    const { app, worker } = await setup({ asyncContext: false });
    const probe = app.task('tasks.noals', async function (this: TaskContext) {
      const during = currentTask().id;
      await new Promise((r) => setTimeout(r, 1));
      let after = '';
      try {
        after = currentTask().id;
      } catch (err) {
        after = (err as Error).message;
      }
      return { id: this.id, during, after };
    });
    await worker.start();
    const r = probe.delay();
    const out = await r.get({ timeout: 5 });
    expect(out.id).toBe(r.id);
    expect(out.during).toBe(r.id);
    expect(out.after).toMatch(/outside a running task/);
  });

  it('stores a custom state with meta, and STARTED when tracked', async () => {
    const { app, worker } = await setup();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const job = app.task(
      'tasks.progress',
      async () => {
        await currentTask().updateState('PROGRESS', { current: 1, total: 2 });
        await gate;
        return 'done';
      },
      { trackStarted: true },
    );
    await worker.start();
    const r = job.delay();
    await expect.poll(() => r.state()).toBe('PROGRESS');
    expect(await r.info()).toEqual({ current: 1, total: 2 });
    release();
    expect(await r.get({ timeout: 5 })).toBe('done');
  });

  it('does not run an expired task and stores REVOKED', async () => {
    const { app, worker } = await setup();
    let ran = false;
    const t = app.task('tasks.late', () => {
      ran = true;
    });
    const r = t.applyAsync([], {}, { expires: new Date(Date.now() - 1000) });
    await r.published;
    await worker.start();
    const err = await r.get({ timeout: 5 }).catch((e: unknown) => e);
    expect((err as TaskError).type).toBe('TaskRevokedError');
    expect(await r.state()).toBe('REVOKED');
    expect(ran).toBe(false);
  });

  it('runs a countdown task no earlier than due', async () => {
    const { app, worker } = await setup();
    const t = app.task('tasks.when', () => Date.now());
    await worker.start();
    const sent = Date.now();
    const ranAt = await t.applyAsync([], {}, { countdown: 0.3 }).get({ timeout: 5 });
    expect(ranAt - sent).toBeGreaterThanOrEqual(290);
  });

  it('follows a chain in the embed, passing each result on', async () => {
    const { app, worker } = await setup();
    app.task('tasks.add', (a: number, b: number) => a + b);
    app.task('tasks.mul', (a: number, b: number) => a * b);
    await worker.start();
    const last = app.asyncResult<number>('chain-last-' + Math.random());
    // (1 + 2) → mul(·, 10) → add(·, 5); the chain holds the remaining steps in reverse order.
    const chain = [
      {
        task: 'tasks.add',
        args: [5],
        kwargs: {},
        options: { task_id: last.id },
        subtask_type: null,
        immutable: false,
      },
      {
        task: 'tasks.mul',
        args: [10],
        kwargs: {},
        options: {},
        subtask_type: null,
        immutable: false,
      },
    ];
    const broker = await app.broker();
    await broker.publish(
      'celery',
      encodeTaskMessage(createTaskMessage({ name: 'tasks.add', args: [1, 2], chain })),
    );
    expect(await last.get({ timeout: 5 })).toBe(35);
  });

  it('shutdown lets running tasks finish and requeues waiting ones', async () => {
    const { app, worker } = await setup({ concurrency: 1, prefetch: 5 });
    let finished = 0;
    const t = app.task('tasks.sleepy', async () => {
      await new Promise((r) => setTimeout(r, 100));
      finished++;
    });
    await worker.start();
    const results = Array.from({ length: 5 }, () => t.delay());
    await Promise.all(results.map((r) => r.published));
    await expect.poll(() => finished, { interval: 5 }).toBeGreaterThanOrEqual(0);
    await new Promise((r) => setTimeout(r, 30));
    await worker.shutdown({ timeout: 5 });
    expect(worker.state).toBe('stopped');
    expect(finished).toBe(1);
    const broker = await app.broker();
    expect(await broker.count('celery')).toBe(4);
    // A new worker picks the requeued ones up: nothing was lost.
    const second = new Worker(app, { concurrency: 4 });
    await second.start();
    await Promise.all(results.slice(1).map((r) => r.get({ timeout: 5 })));
    expect(finished).toBe(5);
    await second.shutdown();
  });

  it('requeues a task still running at the shutdown timeout and aborts its signal', async () => {
    const { app, worker } = await setup({ concurrency: 1 });
    let aborted = false;
    const t = app.task('tasks.stuck', function (this: TaskContext) {
      return new Promise<void>((resolve) => {
        this.signal.addEventListener('abort', () => {
          aborted = true;
          resolve();
        });
      });
    });
    await worker.start();
    const r = t.delay();
    await r.published;
    await new Promise((res) => setTimeout(res, 50));
    await worker.shutdown({ timeout: 0.1 });
    expect(aborted).toBe(true);
    const broker = await app.broker();
    expect(await broker.count('celery')).toBe(1);
    expect(await r.state()).toBe('PENDING');
  });

  it('stores EncodeError when a result cannot be serialized, instead of crashing', async () => {
    const { app, worker } = await setup();
    // Bytes that are not UTF-8 cannot travel as JSON (integers beyond 2^53 now can).
    const t = app.task('tasks.binary', () => Buffer.from([0xff, 0xfe, 0x00]));
    await worker.start();
    const err = await t
      .delay()
      .get({ timeout: 5 })
      .catch((e: unknown) => e);
    expect((err as TaskError).type).toBe('EncodeError');
  });

  it('stores nothing for ignoreResult tasks but still runs and acks them', async () => {
    const { app, worker } = await setup();
    let ran = 0;
    const t = app.task('tasks.fire', () => ++ran, { ignoreResult: true });
    await worker.start();
    const r = t.delay();
    await expect.poll(() => ran).toBe(1);
    await new Promise((res) => setTimeout(res, 20));
    expect(await r.state()).toBe('PENDING');
    const broker = await app.broker();
    expect(await broker.count('celery')).toBe(0);
  });
});
