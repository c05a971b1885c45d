/**
 * The threads and process pools end to end on memory://: a Worker whose tasks run in
 * threads or children that load test-fixtures/pool-app.js. The same suite runs for both.
 * (The pool entry is the built one: run `npm run build` in this package first; turbo's
 * `test` task does.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Celeriac, Task, TaskError } from '@celeriac/client';
import { isCeleriacError, type Logger } from '@celeriac/core';
import { Worker, type WorkerOptions } from '../index.js';

const FIXTURE = fileURLToPath(new URL('../../test-fixtures/pool-app.js', import.meta.url));

type AnyTask = Task<unknown[], unknown>;
interface Fixture {
  app: Celeriac;
  add: AnyTask;
  whoami: Task<[], { pid: number; threadId: number }>;
  spin: AnyTask;
  spinForever: AnyTask;
  soft: AnyTask;
  eventually: AnyTask;
  flaky: AnyTask;
  fail: AnyTask;
  progress: AnyTask;
  exit: AnyTask;
  exitOnce: AnyTask;
  unserializable: AnyTask;
}
const fx = (await import(FIXTURE)) as Fixture;

interface Line {
  obj: Record<string, unknown>;
  msg: string | undefined;
}
const lines: Line[] = [];
const capture: Logger = {
  trace: () => undefined,
  debug: () => undefined,
  info: (o: Record<string, unknown> | string, msg?: string) =>
    lines.push(typeof o === 'string' ? { obj: {}, msg: o } : { obj: o, msg }),
  warn: () => undefined,
  error: () => undefined,
  fatal: () => undefined,
  child: () => capture,
};

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => fx.app.close());

async function failure(p: Promise<unknown>): Promise<TaskError> {
  const err = await p.then(
    (v) => {
      throw new Error(`expected a failure, got ${JSON.stringify(v)}`);
    },
    (e: unknown) => e,
  );
  return err as TaskError;
}

describe.each(['threads', 'process'] as const)('the %s pool', (pool) => {
  const idOf = (w: { pid: number; threadId: number }): number =>
    pool === 'threads' ? w.threadId : w.pid;

  async function started(options: Partial<WorkerOptions> = {}): Promise<Worker> {
    const worker = new Worker(fx.app, {
      pool,
      appModule: FIXTURE,
      concurrency: 1,
      logger: capture,
      ...options,
    });
    cleanups.push(() => worker.shutdown({ timeout: 1 }));
    await worker.start();
    return worker;
  }

  it('stops a CPU-bound task at its hard limit and serves the next task at once', async () => {
    await started();
    const t0 = Date.now();
    const stuck = fx.spin.delay();
    const next = fx.add.delay(2, 3); // queued behind it on the only thread or child
    const err = await failure(stuck.get({ timeout: 10 }));
    expect(err.type).toBe('TimeLimitExceeded');
    expect(err.module).toBe('billiard.exceptions');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(await next.get({ timeout: 10 })).toBe(5);
    expect(Date.now() - t0).toBeLessThan(1000 + 2000);
  });

  it('revoke with terminate kills the thread or child running a CPU-bound task', async () => {
    await started();
    const stuck = fx.spinForever.delay();
    await new Promise((r) => setTimeout(r, 400)); // it is spinning now
    const t0 = Date.now();
    await fx.app.control.revoke(stuck.id, { terminate: true });
    const err = await failure(stuck.get({ timeout: 10 }));
    expect(err.type).toBe('TaskRevokedError');
    expect(await fx.add.delay(1, 1).get({ timeout: 10 })).toBe(2); // the member was replaced
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('soft limit: the task sees SoftTimeLimitExceeded on its signal and cleans up', async () => {
    await started();
    expect(await fx.soft.delay().get({ timeout: 5 })).toBe(
      'cleaned up after SoftTimeLimitExceeded (true, billiard.exceptions)',
    );
  });

  it('ctx.retry() and autoretryFor by class work from inside: RETRY, then SUCCESS', async () => {
    await started();
    const r = fx.eventually.delay(1);
    await expect.poll(() => r.state(), { timeout: 5000, interval: 20 }).toBe('RETRY');
    const info = (await r.info()) as TaskError;
    expect(info.type).toBe('BadInput');
    expect(info.remoteMessage).toBe('not yet 0');
    expect(await r.get({ timeout: 5 })).toBe('done after 1');
    // ConnectionError is a class of the app module: matched in the worker by its class chain.
    expect(await fx.flaky.delay().get({ timeout: 5 })).toBe(2);
  });

  it('errors keep their type and message; an unserializable result stores EncodeError', async () => {
    await started();
    const custom = await failure(fx.fail.delay('custom').get({ timeout: 5 }));
    expect([custom.type, custom.remoteMessage, custom.module]).toEqual([
      'BadInput',
      'bad input: 42',
      'celeriac.exceptions',
    ]);
    expect(custom.traceback).toContain('pool-app.js');
    const type = await failure(fx.fail.delay('type').get({ timeout: 5 }));
    expect([type.type, type.module]).toEqual(['TypeError', 'builtins']);
    expect(type.remoteMessage).toContain("reading 'boom'");
    const bare = await failure(fx.fail.delay('string').get({ timeout: 5 }));
    expect([bare.type, bare.remoteMessage]).toEqual(['Exception', 'a bare string']);
    const encode = await failure(fx.unserializable.delay().get({ timeout: 5 }));
    expect([encode.type, encode.module]).toEqual(['EncodeError', 'kombu.exceptions']);
  });

  it('updateState is stored by the worker; this, currentTask() and the logger work inside', async () => {
    await started();
    const r = fx.progress.delay();
    await expect.poll(() => r.state(), { timeout: 5000, interval: 20 }).toBe('PROGRESS');
    expect(await r.info()).toEqual({ current: 1, total: 2 });
    expect(await r.get({ timeout: 5 })).toEqual({
      sameContext: true,
      id: r.id,
      queue: 'celery',
      hostname: expect.stringMatching(/^celeriac@/) as unknown,
    });
    expect(lines.some((l) => l.msg === 'progress logged' && l.obj['step'] === 2)).toBe(true);
  });

  it('maxTasksPerChild replaces a thread or child after that many tasks', async () => {
    await started({ maxTasksPerChild: 2 });
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push(idOf(await fx.whoami.delay().get({ timeout: 5 })));
    const [a, b, c, d, e] = ids;
    expect(a).toBe(b);
    expect(c).toBe(d);
    expect(new Set([a, c, e]).size).toBe(3);
  });

  it('maxMemoryPerChild replaces a thread or child that grew past it', async () => {
    await started({ maxMemoryPerChild: 1 }); // 1 KiB: every task leaves it over the limit
    const first = idOf(await fx.whoami.delay().get({ timeout: 5 }));
    const second = idOf(await fx.whoami.delay().get({ timeout: 5 }));
    expect(second).not.toBe(first);
  });

  it('a thread or child that dies under a task stores WorkerLostError, and is replaced', async () => {
    await started();
    const err = await failure(fx.exit.delay().get({ timeout: 5 }));
    expect([err.type, err.module]).toEqual(['WorkerLostError', 'billiard.exceptions']);
    expect(err.remoteMessage).toBe('Worker exited prematurely: exitcode 3.');
    expect(await fx.add.delay(1, 1).get({ timeout: 5 })).toBe(2);
  });

  it('rejectOnWorkerLost requeues the task instead', async () => {
    await started();
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-pool-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    expect(await fx.exitOnce.delay(join(dir, 'ran')).get({ timeout: 5 })).toBe('second run');
  });

  it.each(['shutdown', 'abort'] as const)(
    '%s() ends the pool, even a task that never yields, and requeues it',
    async (how) => {
      const queue = `stop-${pool}-${how}`;
      const worker = await started({ queues: [queue] });
      const child = idOf(await fx.whoami.applyAsync([], {}, { queue }).get({ timeout: 5 }));
      fx.spinForever.applyAsync([], {}, { queue });
      const broker = await fx.app.broker();
      await expect.poll(() => broker.count(queue), { interval: 20 }).toBe(0);
      await new Promise((r) => setTimeout(r, 100));
      const t0 = Date.now();
      await (how === 'shutdown' ? worker.shutdown({ timeout: 0.2 }) : worker.abort());
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(await broker.count(queue)).toBe(1);
      await broker.purge(queue);
      // shutdown() resolves once every thread or child has exited; a child's pid is gone.
      if (pool === 'process') expect(() => process.kill(child, 0)).toThrow();
    },
  );
});

describe('pool options', () => {
  function invalid(make: () => unknown): Error {
    try {
      make();
    } catch (err) {
      expect(isCeleriacError(err, 'CELERIAC_ERR_INVALID_OPTION')).toBe(true);
      return err as Error;
    }
    throw new Error('expected CELERIAC_ERR_INVALID_OPTION');
  }

  it('threads and process need an appModule that exists; child limits need such a pool', () => {
    expect(invalid(() => new Worker(fx.app, { pool: 'threads' })).message).toContain('appModule');
    expect(
      invalid(() => new Worker(fx.app, { pool: 'process', appModule: './no/such/app.js' })).message,
    ).toContain('does not exist');
    expect(
      invalid(() => new Worker(fx.app, { pool: 'fibers' as 'threads', appModule: FIXTURE }))
        .message,
    ).toContain('"pool" must be');
    expect(invalid(() => new Worker(fx.app, { maxTasksPerChild: 10 })).message).toContain(
      'maxTasksPerChild',
    );
    expect(
      invalid(
        () => new Worker(fx.app, { pool: 'threads', appModule: FIXTURE, maxMemoryPerChild: 0 }),
      ).message,
    ).toContain('maxMemoryPerChild');
  });

  it.each(['threads', 'process'] as const)(
    '%s: a module with no such app fails start(), leaving nothing running',
    async (pool) => {
      const worker = new Worker(fx.app, {
        pool,
        appModule: `${FIXTURE}:nope`,
        concurrency: 2,
        logger: capture,
      });
      const err: unknown = await worker.start().catch((e: unknown) => e);
      expect(isCeleriacError(err, 'CELERIAC_ERR_INVALID_OPTION')).toBe(true);
      expect((err as Error).message).toContain('no Celeriac app named "nope"');
      expect(worker.state).toBe('stopped');
    },
  );
});
