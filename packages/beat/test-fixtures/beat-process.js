// A beat process for the multi-process tests: two entries published to one queue through
// the broker, the schedule in a shared store (Redis or SQLite). The every-second entry catches up
// (every run is enqueued, however late: a takeover leaves no hole); the every-five-seconds
// entry coalesces (the default: the runs missed during a takeover become one).
//
//   node test-fixtures/beat-process.js <storeUrl> <namespace> <queue> <id> <lockTtlSeconds> [brokerUrl]
//
// The broker URL defaults to the store URL.
//
// Prints one JSON line per log record at info and above. SIGTERM stops it cleanly.
import { Celeriac } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { Beat, createScheduleStore, interval } from '@celeriac/beat';

const [url, namespace, queue, id, lockTtl, brokerUrl = url] = process.argv.slice(2);
if (!url || !namespace || !queue || !id || !lockTtl) {
  process.stderr.write(
    'usage: beat-process.js <storeUrl> <namespace> <queue> <id> <lockTtlSeconds> [brokerUrl]\n',
  );
  process.exit(2);
}

function logger(bindings = {}) {
  const at = (level) => (obj, msg) => {
    const record = typeof obj === 'string' ? { msg: obj } : { ...obj, msg };
    if (record.err instanceof Error) record.err = record.err.message;
    process.stdout.write(
      `${JSON.stringify({ level, time: Date.now(), ...bindings, ...record })}\n`,
    );
  };
  const noop = () => undefined;
  return {
    trace: noop,
    debug: noop,
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    fatal: at('fatal'),
    child: (b) => logger({ ...bindings, ...b }),
  };
}

const app = new Celeriac({ broker: brokerUrl, backend: false, logger: silentLogger });
const store = await createScheduleStore(url, { namespace });
const beat = new Beat(app, {
  store,
  id,
  lockTtl: Number(lockTtl),
  logger: logger(),
  entries: [
    {
      name: 'every-1s',
      task: 'fixture.every1',
      schedule: interval({ seconds: 1 }),
      options: { queue },
      catchUp: true,
    },
    {
      name: 'every-5s',
      task: 'fixture.every5',
      schedule: interval({ seconds: 5 }),
      options: { queue },
    },
  ],
});

process.once('SIGTERM', () => {
  void (async () => {
    await beat.stop();
    await store.close();
    await app.close();
    process.exit(0);
  })();
});

await beat.start();
process.stdout.write(`${JSON.stringify({ level: 'info', msg: 'started', id })}\n`);
