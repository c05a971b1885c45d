// Celeriac with Celery events on (`celeriac worker -E`), beside the plain Celeriac system, for the
// events overhead lines of the report: the same W1, with the worker sending task-received,
// task-started and task-succeeded for every task. Two variants: `celeriac-events`, with nobody
// listening on this machine (what the worker itself pays; a monitor runs elsewhere), and
// `celeriac-events-listened`, with a separate process listening to every event (as Flower or
// celery-exporter would) on the same 2 CPUs, so each event is also delivered and decoded here.
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
    return { ...run, workerConfig: { ...run.workerConfig, events: true } };
  },
};

export const celeriacEventsListened = {
  ...celeriac,
  id: 'celeriac-events-listened',
  label: 'Celeriac -E + listener',
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
