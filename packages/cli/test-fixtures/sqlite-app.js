// The app module the SQLite CLI tests load with `celeriac worker --app`. Configured by env:
// CELERIAC_BROKER_URL (a sqlite:// file), FX_RUNS_FILE (a file each run of fx.record appends its
// task id to, one line per run), FX_VISIBILITY_TIMEOUT (seconds; a SIGKILLed worker's messages
// come back after it). `celeriac beat` runs its one entry, fx.record every second.
import { appendFileSync } from 'node:fs';
import { defineBeat, every } from '@celeriac/beat';
import { Celeriac } from '@celeriac/client';

export const app = new Celeriac({
  broker: process.env.CELERIAC_BROKER_URL,
  backend: false,
  brokerOptions: { visibilityTimeout: Number(process.env.FX_VISIBILITY_TIMEOUT ?? 30) },
});

export const record = app.task('fx.record', async function (n, ms = 5) {
  // One write(2) with O_APPEND per run: lines from several processes never interleave.
  appendFileSync(process.env.FX_RUNS_FILE ?? 'fx-runs.txt', `${this.id}\n`);
  await new Promise((r) => setTimeout(r, ms));
  return n;
});

export const beat = defineBeat({
  entries: [
    { name: 'record-every-second', task: 'fx.record', schedule: every().second(), args: [0, 1] },
  ],
});
