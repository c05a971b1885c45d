// How long RabbitMQ's publisher confirm trails a task's result, in W4's setting (one task at a
// time, an idle worker, rpc:// results, persistent tasks in a durable queue). Before get()
// waited beside the publish it waited for both; this prints both waits from the same calls.
// A throwaway RabbitMQ node; the worker runs in this process. `node bench/amqp/confirm-lag.js [calls]`
import { startRabbitMqServer } from '@celeriac/testing';
import { Celeriac } from '@celeriac/client';
import { Worker } from '@celeriac/worker';
import { pino } from 'pino';

const calls = Number(process.argv[2] ?? 1000);
const warmup = 100;
const server = await startRabbitMqServer();
const make = () =>
  new Celeriac({
    broker: server.url,
    backend: 'rpc://',
    defaultQueue: 'confirm-lag',
    logger: pino({ level: 'warn' }),
  });
const workerApp = make();
workerApp.task('bench.noop', () => null);
const worker = new Worker(workerApp, { concurrency: 50 });
await worker.start();
const app = make();
const noop = app.task('bench.noop', () => null);
await app.declareQueue('confirm-lag');
await (await app.resultBackend()).declareReplyQueue?.();

const untilResult = [];
const untilBoth = [];
const lag = [];
for (let i = 0; i < warmup + calls; i++) {
  const t0 = performance.now();
  const r = noop.delay();
  let confirmed = 0;
  void r.published.then(() => (confirmed = performance.now()));
  await r.get({ timeout: 10 });
  const resulted = performance.now();
  await r.published;
  confirmed ||= performance.now();
  if (i < warmup) continue;
  untilResult.push(resulted - t0);
  untilBoth.push(Math.max(confirmed, resulted) - t0);
  lag.push(confirmed - resulted);
}
const q = (a, p) => [...a].sort((x, y) => x - y)[Math.floor(p * (a.length - 1))].toFixed(2);
console.log(`${calls} round trips after ${warmup} warm-up calls (ms)`);
console.log(
  `  until the result (get() now):           p50 ${q(untilResult, 0.5)}  p99 ${q(untilResult, 0.99)}`,
);
console.log(
  `  until result and confirm (get() before): p50 ${q(untilBoth, 0.5)}  p99 ${q(untilBoth, 0.99)}`,
);
console.log(
  `  confirm minus result:                    p50 ${q(lag, 0.5)}  p90 ${q(lag, 0.9)}  p99 ${q(lag, 0.99)}`,
);
await app.close();
await worker.shutdown();
await workerApp.close();
await server.stop();
