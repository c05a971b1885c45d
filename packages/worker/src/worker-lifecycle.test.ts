import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac } from '@celeriac/client';
import {
  ErrorCodes,
  createTaskMessage,
  encodeTaskMessage,
  isCeleriacError,
  silentLogger,
  type Broker,
  type Consumer,
  type RevocationWatch,
} from '@celeriac/core';
import { Worker } from './index.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup(options: ConstructorParameters<typeof Worker>[1] = {}): {
  app: Celeriac;
  worker: Worker;
} {
  const app = new Celeriac({
    broker: `memory://life-${Math.random().toString(36).slice(2)}`,
    logger: silentLogger,
  });
  const worker = new Worker(app, { concurrency: 2, ...options });
  cleanups.push(async () => {
    await worker.abort();
    await app.close();
  });
  return { app, worker };
}

function timersActive(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

/** Lets pending I/O callbacks and promise jobs run, without a timer of its own. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !condition(); i++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  expect(condition()).toBe(true);
}

/** Records the consumers the worker opens, and whether each was cancelled. */
function watchConsumers(broker: Broker, onConsume?: () => void): { cancelled: boolean }[] {
  const opened: { cancelled: boolean }[] = [];
  const consume = broker.consume.bind(broker);
  broker.consume = async (options): Promise<Consumer> => {
    onConsume?.();
    const consumer = await consume(options);
    const record = { cancelled: false };
    opened.push(record);
    return {
      cancel: () => {
        record.cancelled = true;
        return consumer.cancel();
      },
    };
  };
  return opened;
}

async function invalidState(p: Promise<unknown>): Promise<unknown> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isCeleriacError(err, ErrorCodes.INVALID_STATE)).toBe(true);
  return (err as { details: Record<string, unknown> }).details['state'];
}

describe('Worker lifecycle', () => {
  it('start() once: any other state rejects with CELERIAC_ERR_INVALID_STATE and details.state', async () => {
    const { app, worker } = setup();
    let release!: () => void;
    app.task('tasks.held', () => new Promise<void>((r) => (release = r)));
    const starting = worker.start();
    expect(await invalidState(worker.start())).toBe('starting');
    await starting;
    expect(await invalidState(worker.start())).toBe('running');
    const r = app.sendTask('tasks.held');
    await until(() => release !== undefined);
    const stopping = worker.shutdown({ timeout: 5 });
    expect(await invalidState(worker.start())).toBe('draining');
    release();
    await stopping;
    await r.get({ timeout: 5 });
    expect(await invalidState(worker.start())).toBe('stopped');
    expect(worker.state).toBe('stopped');
  });

  it('close() is shutdown() with its defaults: the same promise, idempotent', async () => {
    const { worker } = setup();
    await worker.start();
    const closing = worker.close();
    expect(worker.close()).toBe(closing);
    expect(worker.shutdown()).toBe(closing);
    await closing;
    expect(worker.state).toBe('stopped');
  });

  it('abort() is memoized: a second call returns the same promise', async () => {
    const { worker } = setup();
    await worker.start();
    const aborting = worker.abort();
    expect(worker.abort()).toBe(aborting);
    await aborting;
    expect(worker.abort()).toBe(aborting);
    expect(worker.state).toBe('stopped');
  });

  it('a worker never started stops at once on shutdown() or abort()', async () => {
    const { worker } = setup();
    await worker.shutdown();
    await worker.abort();
    expect(worker.state).toBe('stopped');
    expect(await invalidState(worker.start())).toBe('stopped');
  });

  it('a shutdown() cut short by abort() resolves only once the abort has requeued what ran', async () => {
    const { app, worker } = setup({ concurrency: 1 });
    const broker = await app.broker();
    // A requeue that takes a few turns, as one over the network does.
    const consume = broker.consume.bind(broker);
    broker.consume = (options) =>
      consume({
        ...options,
        onMessage: (delivery) => {
          const requeue = delivery.requeue.bind(delivery);
          Object.assign(delivery, {
            requeue: async () => {
              for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
              await requeue();
            },
          });
          options.onMessage(delivery);
        },
      });
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const slow = app.task('tasks.never-ends', () => {
      started();
      return new Promise<never>(() => undefined);
    });
    await worker.start();
    slow.delay();
    await running;
    const shutdown = worker.shutdown({ timeout: 60 });
    const abort = worker.abort();
    await shutdown; // the CLI exits here on a second signal
    expect(await broker.count('celery')).toBe(1);
    await abort;
    expect(worker.state).toBe('stopped');
  });

  it('shutdown() during start() never lets the worker go on to running', async () => {
    const { app, worker } = setup();
    const broker = await app.broker();
    const consumers = watchConsumers(broker);
    const starting = worker.start();
    const stopping = worker.shutdown();
    expect(worker.state).toBe('draining');
    await starting;
    expect(worker.state).not.toBe('running');
    await stopping;
    expect(worker.state).toBe('stopped');
    // Whatever start() got to open is closed: no consumer is left taking messages.
    expect(consumers.every((c) => c.cancelled)).toBe(true);
  });

  it('shutdown() while start() awaits its consumer: the consumer is cancelled, the state stays stopped', async () => {
    const { app, worker } = setup();
    const broker = await app.broker();
    let stopping: Promise<void> | undefined;
    const consumers = watchConsumers(broker, () => {
      stopping = worker.shutdown();
    });
    await worker.start();
    expect(worker.state).not.toBe('running');
    await stopping;
    expect(worker.state).toBe('stopped');
    expect(consumers).toHaveLength(1);
    expect(consumers[0]?.cancelled).toBe(true);
    const r = app.sendTask('tasks.unknown');
    await r.published;
    expect(await broker.count('celery')).toBe(1); // nobody consumes it
  });

  it('abort() during start() stops what start() opened', async () => {
    const { app, worker } = setup();
    const broker = await app.broker();
    const consumers = watchConsumers(broker);
    const starting = worker.start();
    const aborting = worker.abort();
    await Promise.all([starting, aborting]);
    expect(worker.state).toBe('stopped');
    expect(consumers.every((c) => c.cancelled)).toBe(true);
  });

  for (const order of ['shutdown, then abort', 'abort, then shutdown'] as const) {
    it(`${order}: both resolve, the running task is requeued, nothing is left running`, async () => {
      const { app, worker } = setup();
      let started = 0;
      const stuck = app.task(
        'tasks.stuck',
        () => {
          started++;
          return new Promise(() => undefined); // never settles: only an abort ends the wait
        },
        { timeLimit: 120, softTimeLimit: 100 }, // timers an abandoned run must not leave behind
      );
      await worker.start();
      const base = timersActive();
      const r = stuck.delay();
      await until(() => started === 1);
      const [first, second] =
        order === 'shutdown, then abort'
          ? [worker.shutdown({ timeout: 60 }), worker.abort()]
          : [worker.abort(), worker.shutdown({ timeout: 60 })];
      await Promise.all([first, second]);
      expect(worker.state).toBe('stopped');
      expect(timersActive()).toBeLessThanOrEqual(base); // the 60 s drain timer is gone too
      const broker = await app.broker();
      expect(await broker.count('celery')).toBe(1);
      expect(await r.state()).toBe('PENDING');
    });
  }

  it('abort() stops every timer and watch the worker opened: rate-limit, ETA, revocations', async () => {
    const { app, worker } = setup({ concurrency: 4 });
    let ran = 0;
    const limited = app.task('tasks.limited', () => ++ran, { rateLimit: '1/s' });
    app.task('tasks.later', () => ++ran);
    const coordination = await app.coordination();
    let watchStopped = 0;
    const watchRevocations = coordination.watchRevocations.bind(coordination);
    coordination.watchRevocations = async (listener): Promise<RevocationWatch> => {
      const watch = await watchRevocations(listener);
      return {
        current: watch.current,
        stop: () => {
          watchStopped++;
          return watch.stop();
        },
      };
    };
    await worker.start();
    const base = timersActive();
    const broker = await app.broker();
    // The second start of a '1/s' task waits for its slot (a timer); a message that comes
    // straight to the queue before its near ETA is held in memory (another timer).
    await limited.delay().get({ timeout: 5 });
    await limited.delay().published;
    const eta = new Date(Date.now() + 800);
    await broker.publish(
      'celery',
      encodeTaskMessage(createTaskMessage({ name: 'tasks.later', eta })),
    );
    await until(() => timersActive() >= base + 2);
    await worker.abort();
    expect(timersActive()).toBeLessThanOrEqual(base);
    expect(watchStopped).toBe(1);
    expect(ran).toBe(1);
    expect(await broker.count('celery')).toBe(2); // both went back to the queue
  });

  it('shutdown() requeues a message held for a near ETA at once, not after its timeout', async () => {
    const { app, worker } = setup();
    app.task('tasks.later', () => 'ran');
    await worker.start();
    const base = timersActive();
    const broker = await app.broker();
    const eta = new Date(Date.now() + 900);
    await broker.publish(
      'celery',
      encodeTaskMessage(createTaskMessage({ name: 'tasks.later', eta })),
    );
    await until(() => timersActive() >= base + 1);
    const began = Date.now();
    await worker.shutdown({ timeout: 60 });
    expect(Date.now() - began).toBeLessThan(800);
    expect(timersActive()).toBeLessThanOrEqual(base);
    expect(await broker.count('celery')).toBe(1);
  });
});
