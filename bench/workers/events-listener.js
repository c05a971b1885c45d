// A separate process listening to Celery events for the bench's "Celeriac -E" system, as Flower or
// celery-exporter would: it counts task-succeeded events and reports the count when asked.
// Forked by bench/systems/celeriac-events.js; BENCH_EVENTS_URL names the Redis.
import { Celeriac, receiveEvents } from '@celeriac/client';
import { pino } from 'pino';

const app = new Celeriac({ broker: process.env.BENCH_EVENTS_URL, logger: pino({ level: 'warn' }) });
let succeeded = 0;
const receiver = await receiveEvents(app, (e) => {
  if (e.type === 'task-succeeded') succeeded++;
});
process.on('message', async (m) => {
  if (m === 'count') {
    process.send({ type: 'count', succeeded });
  } else if (m === 'reset') {
    succeeded = 0;
  } else if (m === 'stop') {
    await receiver.close();
    await app.close();
    process.exit(0);
  }
});
process.send({ type: 'ready' });
