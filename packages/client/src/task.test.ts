import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { decodeTaskMessage, isCeleriacError, type Delivery, silentLogger } from '@celeriac/core';
import { Celeriac, type AsyncResult, type TaskContext } from './index.js';

function memoryApp(): Celeriac {
  // A private memory namespace per test keeps tests apart.
  return new Celeriac({
    broker: `memory://${Math.random().toString(36).slice(2)}`,
    logger: silentLogger,
  });
}

async function takeOne(app: Celeriac, queue = 'celery'): Promise<Delivery> {
  const broker = await app.broker();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no message')), 2000);
    void broker
      .consume({
        queues: [queue],
        prefetch: 1,
        onMessage: (d) => {
          clearTimeout(timer);
          resolve(d);
        },
      })
      .catch(reject);
  });
}

describe('task types', () => {
  it('carries argument and result types end to end', () => {
    const app = memoryApp();
    const add = app.task('tasks.add', (a: number, b: number) => a + b);
    expectTypeOf(add.delay(1, 2)).toEqualTypeOf<AsyncResult<number>>();
    // @ts-expect-error a string is not a number
    add.delay(1, '2');
    // @ts-expect-error too few arguments
    add.delay(1);
    const asyncTask = app.task('tasks.fetch', async (url: string) => ({ url, ok: true }));
    expectTypeOf(asyncTask.delay('x')).toEqualTypeOf<AsyncResult<{ url: string; ok: boolean }>>();
    expectTypeOf(asyncTask.applyAsync).parameter(0).toEqualTypeOf<[url: string]>();
    const withKwargs = app.task(
      'tasks.scale',
      function (this: TaskContext<{ factor: number }>, n: number) {
        return n * this.kwargs.factor;
      },
    );
    expectTypeOf(withKwargs.applyAsync([2], { factor: 3 })).toEqualTypeOf<AsyncResult<number>>();
    // @ts-expect-error factor must be a number
    withKwargs.applyAsync([2], { factor: 'x' });
    void app.close();
  });
});

describe('publishing', () => {
  it('publishes a Celery protocol v2 message to the default queue', async () => {
    const app = memoryApp();
    const add = app.task('tasks.add', (a: number, b: number) => a + b);
    const r = add.applyAsync(
      [2, 3],
      { extra: true },
      { priority: 3, expires: 60, headers: { tenant: 'a' } },
    );
    await r.published;
    const d = await takeOne(app);
    expect(d.message.contentType).toBe('application/json');
    const msg = decodeTaskMessage(d.message);
    expect(msg.headers.task).toBe('tasks.add');
    expect(msg.headers.id).toBe(r.id);
    expect(msg.headers.root_id).toBe(r.id);
    expect(msg.headers.tenant).toBe('a');
    expect(msg.headers.argsrepr).toBe('(2, 3)');
    expect(msg.headers.expires).toMatch(/\+00:00$/);
    expect(msg.properties.correlation_id).toBe(r.id);
    expect(msg.properties.priority).toBe(3);
    expect(msg.args).toEqual([2, 3]);
    expect(msg.kwargs).toEqual({ extra: true });
    expect(msg.embed).toEqual({ callbacks: null, errbacks: null, chain: null, chord: null });
    await app.close();
  });

  it('routes by option, by route table and by task default', async () => {
    const app = new Celeriac({
      broker: `memory://${Math.random()}`,
      logger: silentLogger,
      routes: { 'img.*': 'images', 'mail.send': 'mail' },
    });
    expect(app.queueFor('img.resize')).toBe('images');
    expect(app.queueFor('mail.send')).toBe('mail');
    expect(app.queueFor('other')).toBe('celery');
    expect(app.queueFor('img.resize', { queue: 'x' })).toBe('x');
    const t = app.task('t', () => 1, { queue: 'special', serializer: 'msgpack' });
    await t.delay().published;
    const d = await takeOne(app, 'special');
    expect(d.message.contentType).toBe('application/x-msgpack');
    await app.close();
  });

  it('holds a countdown task in the broker until due', async () => {
    const app = memoryApp();
    const t = app.task('t', () => 1);
    await t.applyAsync([], {}, { countdown: 30 }).published;
    const broker = await app.broker();
    expect(await broker.count('celery')).toBe(0);
    expect(await broker.countDelayed('celery')).toBe(1);
    await app.close();
  });

  it('rejects bad options with a typed error that names them', () => {
    const app = memoryApp();
    const t = app.task('t', (n: number) => n);
    const codeOf = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (err) {
        return isCeleriacError(err) ? `${err.code} ${err.message}` : String(err);
      }
      return undefined;
    };
    expect(codeOf(() => t.applyAsync([1], {}, { countdown: -1 }))).toMatch(
      /INVALID_OPTION.*countdown/,
    );
    expect(codeOf(() => t.applyAsync([1], {}, { countdown: 1, eta: new Date() }))).toMatch(
      /countdown or eta/,
    );
    expect(codeOf(() => t.applyAsync([1], {}, { eta: 'tomorrow' }))).toMatch(/eta" must be a Date/);
    expect(codeOf(() => t.applyAsync([1], {}, { priority: 1.5 }))).toMatch(/priority/);
    expect(codeOf(() => app.task('t', (n: number) => n + 1))).toMatch(/DUPLICATE_TASK/);
    expect(
      codeOf(() => new Celeriac({ broker: 'memory://', taskSerializer: 'pickle' as 'json' })),
    ).toMatch(/taskSerializer/);
    void app.close();
  });

  it('fails the publish, not the caller, on an unsupported broker URL', async () => {
    const app = new Celeriac({ broker: 'kafka://localhost', backend: false, logger: silentLogger });
    const r = app.task('t', () => 1).delay();
    await expect(r.published).rejects.toMatchObject({ code: 'CELERIAC_ERR_UNSUPPORTED_URL' });
    await expect(r.get()).rejects.toMatchObject({ code: 'CELERIAC_ERR_UNSUPPORTED_URL' });
    await app.close();
  });

  it('says how to fix a missing result backend', async () => {
    const app = new Celeriac({
      broker: `memory://${Math.random()}`,
      backend: false,
      logger: silentLogger,
    });
    const r = app.task('t', () => 1).delay();
    await expect(r.get()).rejects.toMatchObject({ code: 'CELERIAC_ERR_NO_RESULT_BACKEND' });
    await app.close();
  });
});

describe('coordination', () => {
  function recording(): { logger: typeof silentLogger; warnings: string[] } {
    const warnings: string[] = [];
    const logger = {
      ...silentLogger,
      warn: (a: unknown, b?: unknown) => void warnings.push(typeof a === 'string' ? a : String(b)),
      child: () => logger,
    } as typeof silentLogger;
    return { logger, warnings };
  }

  it('warns when revocations and rate limits fall back to this process (a non-Redis broker and backend)', async () => {
    const { logger, warnings } = recording();
    // Nothing connects: coordination() on memory:// never touches the broker.
    const app = new Celeriac({
      broker: 'amqp://guest:secret@127.0.0.1:1/',
      backend: false,
      logger,
    });
    const coordination = await app.coordination();
    expect(coordination).toBeDefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/this process only.*coordination: 'redis:/);
    await app.close();
  });

  it('says nothing when the coordination store is shared, or when everything is in memory anyway', async () => {
    for (const options of [
      {
        broker: 'amqp://127.0.0.1:1/',
        backend: false as const,
        coordination: 'memory://shared-on-purpose',
      },
      { broker: `memory://${Math.random().toString(36).slice(2)}` },
    ]) {
      const { logger, warnings } = recording();
      const app = new Celeriac({ ...options, logger });
      await app.coordination();
      expect(warnings).toEqual([]);
      await app.close();
    }
  });
});

describe('coordination on SQLite', () => {
  it('a sqlite:// broker shares revocations through its file, without a warning', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-client-sqlite-'));
    try {
      const warnings: string[] = [];
      const logger = {
        ...silentLogger,
        warn: (a: unknown, b?: unknown) =>
          void warnings.push(typeof a === 'string' ? a : String(b)),
        child: () => logger,
      } as typeof silentLogger;
      const url = `sqlite://${join(dir, 'app.db')}`;
      // Broker options reach the coordination store too; it takes only its own.
      const brokerOptions = { visibilityTimeout: 10 };
      const app = new Celeriac({ broker: url, backend: false, logger, brokerOptions });
      const other = new Celeriac({ broker: url, backend: false, logger });
      expect((await app.coordination()).kind).toBe('sqlite');
      const seen: string[] = [];
      const watch = await (await other.coordination()).watchRevocations((r) => seen.push(r.id));
      await app.revokeTasks(['task-1']);
      await expect.poll(() => seen).toEqual(['task-1']);
      await watch.stop();
      expect(warnings).toEqual([]);
      await app.close();
      await other.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('remote control', () => {
  it('says what it needs on a broker without it (memory://)', async () => {
    const app = memoryApp();
    const err: unknown = await app.control.ping({ timeout: 0.1 }).catch((e: unknown) => e);
    expect(isCeleriacError(err, 'CELERIAC_ERR_INVALID_OPTION')).toBe(true);
    expect((err as Error).message).toMatch(/needs a Redis or RabbitMQ broker/);
    await app.close();
  });
});
