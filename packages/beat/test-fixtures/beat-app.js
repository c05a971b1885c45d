// An app module as `celeriac beat --app` and `celeriac worker --beat` load it: it exports the
// Celeriac `app` and its `beat` entries. The broker comes from CELERIAC_BROKER_URL, the queue
// from BEAT_FIXTURE_QUEUE.
import { Celeriac } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { defineBeat, every } from '@celeriac/beat';

const queue = process.env.BEAT_FIXTURE_QUEUE ?? 'beat-fixture';

export const app = new Celeriac({
  broker: process.env.CELERIAC_BROKER_URL ?? 'memory://',
  backend: false,
  logger: silentLogger,
});

export const ping = app.task('fixture.ping', () => 'pong');

export const beat = defineBeat({
  timezone: 'Europe/London',
  entries: [
    { name: 'fixture-ping', task: 'fixture.ping', schedule: every().second(), options: { queue } },
  ],
});
