// The app module the pool tests load, in the test itself (for task options) and in every
// pool thread or child. Plain JavaScript: threads and children cannot load TypeScript.
// POOL_FX_BROKER names the broker (memory:// by default: a child never connects to it).
import { existsSync, writeFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
import { Celeriac, currentTask } from '@celeriac/client';

const silent = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  fatal() {},
  child() {
    return silent;
  },
};

const url = process.env.POOL_FX_BROKER ?? 'memory://pool-fixture';
export const app = new Celeriac({
  broker: url,
  backend: url,
  logger: silent,
  // RedisBroker's options: the memory broker would refuse them (drivers refuse unknown keys).
  ...(url.startsWith('redis')
    ? { brokerOptions: { visibilityTimeout: 1, restoreIntervalMs: 250 } }
    : {}),
});

export class ConnectionError extends Error {
  name = 'ConnectionError';
}

export class BadInput extends Error {
  name = 'BadInput';
  code = 'E_BAD';
}

const where = () => ({ pid: process.pid, threadId });

export const add = app.task('pool.add', (a, b) => a + b);

export const whoami = app.task('pool.whoami', () => where());

/** CPU-bound and never yields: only killing its thread or child stops it. */
export const spin = app.task(
  'pool.spin',
  () => {
    for (;;);
  },
  { timeLimit: 1 },
);

export const spinForever = app.task('pool.spinForever', () => {
  for (;;);
});

/** Burns the CPU for `ms` without yielding. */
export const burn = app.task('pool.burn', (ms) => {
  const until = Date.now() + ms;
  while (Date.now() < until);
  return where();
});

/** Cooperative: waits for its signal, then cleans up and says why it stopped. */
export const soft = app.task(
  'pool.soft',
  function () {
    return new Promise((resolve) => {
      this.signal.addEventListener('abort', () => {
        const reason = this.signal.reason;
        resolve(
          `cleaned up after ${reason.name} (${reason instanceof Error}, ${reason.excModule})`,
        );
      });
    });
  },
  { softTimeLimit: 0.3, timeLimit: 5 },
);

export const eventually = app.task('pool.eventually', function (goal) {
  if (this.retries < goal)
    this.retry({ countdown: 0.3, exc: new BadInput(`not yet ${this.retries}`) });
  return `done after ${this.retries}`;
});

export const flaky = app.task(
  'pool.flaky',
  function () {
    if (this.retries < 2) throw new ConnectionError(`attempt ${this.retries}`);
    return this.retries;
  },
  { autoretryFor: [ConnectionError], defaultRetryDelay: 0 },
);

export const fail = app.task('pool.fail', (kind) => {
  if (kind === 'type') return null.boom;
  if (kind === 'string') throw 'a bare string';
  throw new BadInput('bad input: 42');
});

export const progress = app.task('pool.progress', async function () {
  await this.updateState('PROGRESS', { current: 1, total: 2 });
  await new Promise((r) => setTimeout(r, 600));
  this.logger.info({ step: 2 }, 'progress logged');
  return {
    sameContext: currentTask().id === this.id,
    id: this.id,
    queue: this.queue,
    hostname: this.hostname,
  };
});

export const exit = app.task('pool.exit', () => process.exit(3));

/** Exits its thread or child the first time (marker file absent), succeeds when run again. */
export const exitOnce = app.task(
  'pool.exitOnce',
  (marker) => {
    if (!existsSync(marker)) {
      writeFileSync(marker, '');
      process.exit(3);
    }
    return 'second run';
  },
  { rejectOnWorkerLost: true },
);

export const unserializable = app.task('pool.unserializable', () => ({ fn: () => 1 }));

export const hog = app.task('pool.hog', () => {
  globalThis.hoard = (globalThis.hoard ?? []).concat([new Array(200_000).fill(1)]);
  return where();
});
