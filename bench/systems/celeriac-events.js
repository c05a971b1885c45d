// Celeriac with Celery events on (`celeriac worker -E`), beside the plain Celeriac system, for the
// events overhead line of the report: the same W1, with the worker sending task-received,
// task-started and task-succeeded for every task, and a separate process listening to them (as
// Flower or celery-exporter would), so each event is really published and delivered.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { celeriac } from './celeriac.js';

const LISTENER = new URL('../workers/events-listener.js', import.meta.url);

export const celeriacEvents = {
  ...celeriac,
  id: 'celeriac-events',
  label: 'Celeriac -E',
  workloads: ['W1'],

  async open(ctx) {
    const run = await celeriac.open(ctx);
    const listener = fork(LISTENER, { env: { ...process.env, BENCH_EVENTS_URL: ctx.url } });
    const next = async (type) => {
      for (;;) {
        const [m] = await once(listener, 'message');
        if (m?.type === type) return m;
      }
    };
    await next('ready');
    return {
      ...run,
      workerConfig: { ...run.workerConfig, events: true },
      async verify(n, admin) {
        const check = await run.verify(n, admin);
        // The last events may still be on their way when the last result is stored.
        let succeeded = 0;
        for (const deadline = Date.now() + 5_000; succeeded < n && Date.now() < deadline;) {
          listener.send('count');
          ({ succeeded } = await next('count'));
          if (succeeded < n) await new Promise((r) => setTimeout(r, 50));
        }
        listener.send('reset');
        // Events are best effort, but on a healthy local Redis every one arrives.
        return {
          ok: check.ok && succeeded >= n,
          detail: `${check.detail} task-succeeded events=${succeeded}`,
        };
      },
      async close() {
        listener.send('stop');
        await once(listener, 'exit');
        await run.close();
      },
    };
  },
};
