// Celeriac with Celery events on (`celeriac worker -E`), beside the plain Celeriac system, for the
// events overhead line of the report: the same W1, with the worker sending task-received,
// task-started and task-succeeded for every task and a receiver in this process listening to
// them (as Flower or celery-exporter would), so each event is really published and delivered.
import { receiveEvents } from '@celeriac/client';
import { Celeriac } from '@celeriac/client';
import { pino } from 'pino';
import { celeriac } from './celeriac.js';

export const celeriacEvents = {
  ...celeriac,
  id: 'celeriac-events',
  label: 'Celeriac -E',
  workloads: ['W1'],

  async open(ctx) {
    const run = await celeriac.open(ctx);
    const listener = new Celeriac({ broker: ctx.url, logger: pino({ level: 'warn' }) });
    let received = 0;
    const receiver = await receiveEvents(listener, (e) => {
      if (e.type === 'task-succeeded') received++;
    });
    return {
      ...run,
      workerConfig: { ...run.workerConfig, events: true },
      async verify(n, admin) {
        const check = await run.verify(n, admin);
        // Events are best effort, but on a healthy local Redis every one arrives.
        const events = received;
        received = 0;
        return {
          ok: check.ok && events >= n,
          detail: `${check.detail} task-succeeded events=${events}`,
        };
      },
      async close() {
        await receiver.close();
        await listener.close();
        await run.close();
      },
    };
  },
};
