// A Celeriac worker process for `npm run bench:amqp`: one no-op task returning null, the async
// pool with concurrency 50, results in the run's result backend (rpc:// or Redis). Started by
// bench/amqp/run.js; commands on fd 3 (lib/control.js):
//   start → consume the queue → started;  watch {target} → watching, later reached;  stop → stopped.
import { Celeriac } from '@celeriac/client';
import { Worker } from '@celeriac/worker';
import { pino } from 'pino';
import { failStartup, send, serve } from './lib/control.js';

const POLL_MS = 2;

try {
  const cfg = JSON.parse(process.env.BENCH_CONFIG ?? '{}');
  const app = new Celeriac({
    broker: cfg.amqpUrl,
    backend: cfg.backendUrl,
    defaultQueue: cfg.queue,
    logger: pino({ level: 'warn' }),
  });
  app.task('bench.noop', () => null);
  const worker = new Worker(app, { concurrency: cfg.concurrency, queues: [cfg.queue] });
  // Connected before "ready", so the drain workload times consuming, not connecting.
  await app.broker();
  await app.resultBackend();
  await app.declareQueue(cfg.queue);

  /** @type {NodeJS.Timeout | undefined} */
  let poll;
  let stopping;
  const stop = () =>
    (stopping ??= (async () => {
      clearInterval(poll);
      await worker.shutdown({ timeout: 5 });
      await app.close();
    })());
  serve(
    {
      start: async () => {
        await worker.start();
        return { type: 'started' };
      },
      watch: ({ target }) => {
        clearInterval(poll);
        const base = worker.processed;
        const t0 = performance.now();
        poll = setInterval(() => {
          const done = worker.processed - base;
          if (done < target) return;
          clearInterval(poll);
          send({ type: 'reached', done, seconds: (performance.now() - t0) / 1000 });
        }, POLL_MS);
        return { type: 'watching' };
      },
      stop: async () => {
        await stop();
        send({ type: 'stopped' });
        setTimeout(() => process.exit(0), 50);
      },
    },
    stop,
  );
  send({ type: 'ready', pid: process.pid });
} catch (err) {
  failStartup(err);
}
