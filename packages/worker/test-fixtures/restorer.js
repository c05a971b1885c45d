// A second worker in a process of its own, on the Redis at POOL_FX_BROKER with a 1 s
// visibility timeout. It consumes only the queue `idle`, so it never takes the test's queue
// (POOL_FX_QUEUE) directly, but restores any message there whose holder stopped refreshing
// it. It prints the length of that queue each time it changes: "<queue> <n>".
import { Celeriac } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { Worker } from '@celeriac/worker';

const url = process.env.POOL_FX_BROKER;
const watched = process.env.POOL_FX_QUEUE;
const app = new Celeriac({
  broker: url,
  backend: url,
  logger: silentLogger,
  brokerOptions: { visibilityTimeout: 1, restoreIntervalMs: 250 },
});
const worker = new Worker(app, { queues: ['idle'], concurrency: 1, logger: silentLogger });
await worker.start();
const broker = await app.broker();
let last = -1;
const timer = setInterval(() => {
  void broker.count(watched).then((n) => {
    if (n !== last) process.stdout.write(`${watched} ${n}\n`);
    last = n;
  });
}, 20);
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  clearInterval(timer);
  void worker
    .shutdown({ timeout: 1 })
    .then(() => app.close())
    .finally(() => process.exit(0));
});
