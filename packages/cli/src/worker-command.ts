import { Worker } from '@celeriac/worker';
import { startWorkerBeat } from './beat-command.js';
import { serveUntilSignal, serviceApp, type CliIo } from './cli-context.js';
import {
  COMMON_HELP,
  commonOptions,
  intOption,
  listOption,
  numberOption,
  parse,
  str,
} from './parse.js';
import { UsageError } from './usage-error.js';
import { endpointOptions, ENDPOINTS_HELP, startWorkerEndpoints } from './worker-endpoints.js';

export const WORKER_HELP = `Usage: celeriac worker --app <module> [options]

Consumes tasks and runs them. SIGTERM or SIGINT stops fetching, lets running tasks finish
within --shutdown-timeout and requeues the rest; a second signal requeues at once.

Options:
  -Q, --queues <a,b>            Queues to consume (default: the app's default queue, "celery")
  -c, --concurrency <n>         Tasks run at once (default: 10)
      --prefetch <n>            Messages held at once (default: concurrency × 4)
  -n, --hostname <name>         Node name (default: celeriac@<host>)
      --shutdown-timeout <s>    Seconds to let running tasks finish on shutdown (default: 30)
  -B, --beat                    Also run beat here (the app module's \`beat\` entries; one leader across workers on Redis or SQLite)
  -P, --pool <kind>             async (default: tasks share the event loop), threads or process
                                (each task in a thread or child process that loads --app; a hard
                                time limit stops even CPU-bound code). See docs/pools.md
      --max-tasks-per-child <n> Replace a pool thread or child after n tasks (threads, process)
      --max-memory-per-child <KiB>  Replace a pool thread or child once it uses more (threads, process)
  -E, --events                  Send task events (task-received, task-succeeded, …) on celeryev, for
                                Flower, celery events, celery-exporter and celeriac dashboard
      --without-heartbeat       Do not send worker-online/heartbeat/offline events (sent by default)
${ENDPOINTS_HELP}
${COMMON_HELP}

Example:
  celeriac worker --app ./dist/app.js -Q celery,images -c 50
`;

/** Resolves with the exit code once the worker has stopped. */
export async function workerCommand(argv: string[], io: CliIo): Promise<number> {
  const p = parse(argv, {
    ...commonOptions,
    queues: { type: 'string', short: 'Q' },
    concurrency: { type: 'string', short: 'c' },
    prefetch: { type: 'string' },
    hostname: { type: 'string', short: 'n' },
    'shutdown-timeout': { type: 'string' },
    beat: { type: 'boolean', short: 'B' },
    pool: { type: 'string', short: 'P' },
    'max-tasks-per-child': { type: 'string' },
    'max-memory-per-child': { type: 'string' },
    events: { type: 'boolean', short: 'E' },
    'without-heartbeat': { type: 'boolean' },
    ...endpointOptions,
  });
  if (p.values['help']) {
    io.stdout.write(WORKER_HELP);
    return 0;
  }
  if (!str(p, 'app'))
    throw new UsageError('worker needs --app <module>: the module that defines your tasks');
  const { app, logger } = await serviceApp(
    p,
    'this worker is on memory://, which lives inside its process: nothing outside it (celeriac call, your app, other workers) can reach it. Pass --broker redis://… or name a broker in the app module',
  );
  const concurrency = intOption(str(p, 'concurrency'), '--concurrency');
  const prefetch = intOption(str(p, 'prefetch'), '--prefetch');
  const shutdownTimeout = numberOption(str(p, 'shutdown-timeout'), '--shutdown-timeout');
  const queues = listOption(str(p, 'queues'));
  const hostname = str(p, 'hostname');
  const pool = str(p, 'pool');
  if (pool !== undefined && pool !== 'async' && pool !== 'threads' && pool !== 'process') {
    throw new UsageError(`--pool must be async, threads or process, got "${pool}"`);
  }
  const maxTasksPerChild = intOption(str(p, 'max-tasks-per-child'), '--max-tasks-per-child');
  const maxMemoryPerChild = intOption(str(p, 'max-memory-per-child'), '--max-memory-per-child');
  const worker = new Worker(app, {
    logger,
    ...(queues ? { queues } : {}),
    ...(concurrency === undefined ? {} : { concurrency }),
    ...(prefetch === undefined ? {} : { prefetch }),
    ...(shutdownTimeout === undefined ? {} : { shutdownTimeout }),
    ...(hostname ? { hostname } : {}),
    // Pool threads and children load the app from the same --app spec.
    ...(pool ? { pool, appModule: str(p, 'app') ?? '' } : {}),
    ...(maxTasksPerChild === undefined ? {} : { maxTasksPerChild }),
    ...(maxMemoryPerChild === undefined ? {} : { maxMemoryPerChild }),
    events: p.values['events'] === true,
    heartbeat: p.values['without-heartbeat'] !== true,
  });

  let signals = 0;
  let beat: Awaited<ReturnType<typeof startWorkerBeat>> | undefined;
  // Remote control's `shutdown` stops the worker without a signal: the command ends then too.
  const stoppedByRemote = new AbortController();
  void worker.whenStopped().then(() => stoppedByRemote.abort());
  let closeEndpoints: (() => Promise<void>) | undefined;
  await serveUntilSignal({
    logger,
    abort: stoppedByRemote.signal,
    start: async () => {
      closeEndpoints = await startWorkerEndpoints(worker, p, logger);
      await worker.start();
      if (p.values['beat'] === true)
        beat = await startWorkerBeat(app, logger, { appSpec: str(p, 'app') });
    },
    onSignal: (signal, stop) => {
      signals++;
      if (signals === 1) {
        logger.info(
          { signal },
          'warm shutdown: finishing running tasks (send again to requeue them at once)',
        );
        void worker.shutdown().finally(stop);
      } else {
        logger.warn({ signal }, 'cold shutdown: requeueing running tasks');
        void worker.abort().finally(stop);
      }
    },
    close: async () => {
      await beat?.close();
      await closeEndpoints?.();
      await app.close();
    },
  });
  return 0;
}
