// The app module of the maxInstances test (beat-max-instances.integration.test.ts), loaded by
// `celeriac beat --app` and `celeriac worker --app`: one every-second entry whose task takes
// OV_TASK_MS (longer than the period), with maxInstances 1 (the default). Each run of the task
// appends `<task id> <start ms> <end ms>` to the Redis list OV_KEY when it ends.
// Env: CELERIAC_BROKER_URL (Redis: broker, result backend and schedule store), OV_KEY, OV_QUEUE.
import { Celeriac } from '@celeriac/client';
import { defineBeat, every } from '@celeriac/beat';
import { Redis } from 'ioredis';

const url = process.env.CELERIAC_BROKER_URL;
const key = process.env.OV_KEY ?? 'ov:runs';
const taskMs = Number(process.env.OV_TASK_MS ?? 2500);

export const app = new Celeriac({ broker: url, backend: url });

let redis;
export const slow = app.task('ov.slow', async function () {
  const start = Date.now();
  try {
    await new Promise((r) => setTimeout(r, taskMs));
  } finally {
    redis ??= new Redis(url);
    await redis.rpush(key, `${this.id} ${start} ${Date.now()}`);
  }
  return start;
});

export const beat = defineBeat({
  maxInstances: 1,
  entries: [
    {
      name: 'overlapping',
      task: 'ov.slow',
      schedule: every().second(),
      options: { queue: process.env.OV_QUEUE ?? 'ov' },
    },
  ],
});
