// The app module the CLI tests load with `celeriac worker --app`. Configured by env:
// CELERIAC_BROKER_URL, FX_RUNS_KEY (a Redis list each run of fx.record appends its task id to),
// FX_VISIBILITY_TIMEOUT (seconds; a SIGKILLed worker's messages come back after it),
// FX_BACKEND_URL (a Redis result backend when the broker is RabbitMQ; the run lists live there).
import { Celeriac } from '@celeriac/client';
import { Redis } from 'ioredis';

const url = process.env.CELERIAC_BROKER_URL;
const visibilityTimeout = Number(process.env.FX_VISIBILITY_TIMEOUT ?? 3600);
const backendUrl = process.env.FX_BACKEND_URL ?? url;

export const app = new Celeriac({
  broker: url,
  backend: backendUrl,
  // RedisBroker's option (seconds, as kombu's): another broker would refuse it.
  ...(url?.startsWith('redis') ? { brokerOptions: { visibilityTimeout } } : {}),
});

let redis;
function runs() {
  redis ??= new Redis(backendUrl, { lazyConnect: false });
  return redis;
}

export const add = app.task('fx.add', (a, b) => a + b);

// Publishes fx.add from inside a task and waits for it: shows which broker a pool member's app uses.
export const relay = app.task('fx.relay', async (a, b, queue) => {
  return await add.applyAsync([a, b], {}, { queue }).get({ timeout: 20 });
});

export const sleep = app.task('fx.sleep', async (ms) => {
  await new Promise((r) => setTimeout(r, ms));
  return ms;
});

export const record = app.task('fx.record', async function (n, ms = 5) {
  await runs().rpush(process.env.FX_RUNS_KEY ?? 'fx:runs', this.id);
  await new Promise((r) => setTimeout(r, ms));
  return n;
});

// Rate limits: each start is recorded (epoch ms) in the list FX_STARTS_KEY.
export const limited = app.task(
  'fx.limited',
  async function (tenant) {
    await runs().rpush(process.env.FX_STARTS_KEY ?? 'fx:starts', `${tenant}:${Date.now()}`);
    return tenant;
  },
  { rateLimit: '10/s' },
);

export const perTenant = app.task(
  'fx.per_tenant',
  async function (tenant) {
    await runs().rpush(process.env.FX_STARTS_KEY ?? 'fx:starts', `${tenant}:${Date.now()}`);
    return tenant;
  },
  { rateLimit: '5/s', rateLimitKey: (args) => String(args[0]) },
);

// Chords (chord-crash test): every run of a part, the body and the errback appends its task id
// (the errback: the failed body's id) to a Redis list, so the test counts runs across processes.
// With FX_ACTIVE_KEY, the parts running now are counted per FX_WORKER in a Redis hash, so the
// test can kill a worker while it runs one.
export const chordPart = app.task('fx.chord_part', async function (n, ms, fail = false) {
  await runs().rpush(process.env.FX_RUNS_KEY ?? 'fx:runs', this.id);
  const active = process.env.FX_ACTIVE_KEY;
  const worker = process.env.FX_WORKER ?? String(process.pid);
  if (active) await runs().hincrby(active, worker, 1);
  try {
    await new Promise((r) => setTimeout(r, ms));
    if (fail) throw new Error(`part ${n} failed`);
    return n * 2;
  } finally {
    if (active) await runs().hincrby(active, worker, -1);
  }
});

export const chordBody = app.task('fx.chord_body', async function (results) {
  await runs().rpush(process.env.FX_BODY_RUNS_KEY ?? 'fx:body-runs', this.id);
  return results.reduce((s, x) => s + x, 0);
});

export const chordErrback = app.task('fx.chord_errback', async function (failedId) {
  await runs().rpush(process.env.FX_ERRBACK_RUNS_KEY ?? 'fx:errback-runs', failedId);
});
