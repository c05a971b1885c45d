// The app module of the SQLite end-to-end tests: the broker, the results and the beat schedule
// all live in the sqlite:// file CELERIAC_BROKER_URL names, by default (nothing else is set).
// FX_VISIBILITY_TIMEOUT (seconds): how soon a SIGKILLed worker's messages come back.
import { Celeriac } from '@celeriac/client';
import { defineBeat, every } from '@celeriac/beat';

export const app = new Celeriac({
  broker: process.env.CELERIAC_BROKER_URL,
  brokerOptions: { visibilityTimeout: Number(process.env.FX_VISIBILITY_TIMEOUT ?? 30) },
});

export const add = app.task('fx.add', (a, b) => a + b);

export const slowAdd = app.task('fx.slowAdd', async (a, b, ms) => {
  await new Promise((r) => setTimeout(r, ms));
  return a + b;
});

export const beat = defineBeat({
  entries: [{ name: 'add-every-second', task: 'fx.add', schedule: every().second(), args: [1, 1] }],
});
