// Worker-side CPU of Celery task events, alone: the three events of each of N no-op tasks
// written by TaskEvents and published by EventSender through the Redis control channel, as a
// worker with -E does, 50 tasks a tick. Prints CPU µs per task (median of 5 rounds).
//   node bench/events-microbench.mjs [redis-url] [tasks]
import { randomUUID } from 'node:crypto';
import { Celeriac } from '@celeriac/client';
import { EventSender } from '@celeriac/client/internal';
import { silentLogger } from '@celeriac/core';
import { TaskEvents } from '../packages/worker/dist/events/task-events.js';

const url = process.argv[2] ?? 'redis://127.0.0.1:6379/0';
const n = Number(process.argv[3] ?? 60000);
const app = new Celeriac({ broker: url, backend: false, logger: silentLogger });
const broker = await app.broker();
if (process.env.NO_TEXT) Object.getPrototypeOf(broker.control).broadcastText = undefined;
const sender = new EventSender(broker.control, {
  hostname: 'celeriac@bench',
  logger: silentLogger,
  bufferGroups: ['task'],
});
const events = new TaskEvents(sender);
events.enable();
const msg = (i) => {
  const id = randomUUID();
  return {
    headers: {
      lang: 'py', task: 'bench.noop', id, root_id: id, parent_id: null, group: null,
      argsrepr: `(${i},)`, kwargsrepr: '{}', retries: 0, eta: null, expires: null,
      timelimit: [null, null], origin: 'bench@host',
    },
    args: [i], kwargs: {}, embed: {},
  };
};
const tick = () => new Promise((r) => setImmediate(r));
const rounds = [];
for (let round = 0; round < 6; round++) {
  const msgs = Array.from({ length: n }, (_, i) => msg(i));
  const before = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const m = msgs[i];
    events.received(m, 'celery');
    events.started(m, 'celery');
    events.succeeded(m, 'celery', null, 0.000123);
    if (i % 50 === 49) await tick();
  }
  await sender.drain();
  const used = process.cpuUsage(before);
  if (round > 0) rounds.push(((used.user + used.system) / n));
}
rounds.sort((a, b) => a - b);
console.log(`events: ${rounds[2].toFixed(2)} µs CPU per task (median of ${rounds.length}; ${rounds.map((r) => r.toFixed(2)).join(' ')})`);
await app.close();
