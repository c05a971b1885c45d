// The app module of the SQLite end-to-end test: the broker, the results and the beat schedule
// all live in the sqlite:// file CELERIAC_BROKER_URL names, by default (nothing else is set).
import { Celeriac } from '@celeriac/client';
import { defineBeat, every } from '@celeriac/beat';

export const app = new Celeriac({ broker: process.env.CELERIAC_BROKER_URL });

export const add = app.task('fx.add', (a, b) => a + b);

export const beat = defineBeat({
  entries: [{ name: 'add-every-second', task: 'fx.add', schedule: every().second(), args: [1, 1] }],
});
