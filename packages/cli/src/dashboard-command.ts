import { startDashboard, type Dashboard } from '@celeriac/dashboard';
import { dashboardMetrics } from './dashboard-metrics.js';
import { serveUntilSignal, serviceApp, type CliIo } from './cli-context.js';
import {
  COMMON_HELP,
  commonOptions,
  flag,
  intOption,
  listOption,
  numberOption,
  parse,
  str,
} from './parse.js';
import { UsageError } from './usage-error.js';

export const DASHBOARD_HELP = `Usage: celeriac dashboard [options]

A live web UI for the workers of a broker (Celeriac's and Python Celery's): workers, queues,
tasks (search, detail with args, result, traceback, parent and children), beat entries, dead
letters, and charts of throughput and latency. Fed by Celery events (start workers with -E)
and remote control; it keeps a bounded state in memory and persists nothing.
Read-only unless --allow-actions. SIGTERM or SIGINT stops it.

Options:
  -p, --port <n>              Port to listen on (default: 5555; 0 picks a free one)
      --host <addr>           Address to listen on (default: 127.0.0.1, this machine only)
      --allow-actions         Allow replaying and purging dead letters, pausing and resuming beat
                              entries and revoking tasks from the page (default: read-only)
      --basic-auth <u:p>      Ask for this user and password (HTTP basic auth; /healthz stays open)
  -Q, --queues <a,b>          Queues to show besides the default one and those the workers consume
      --store <url>           Beat's schedule store (default: the broker when it is Redis or SQLite)
      --namespace <name>      Namespace in the schedule store (default: default)
      --max-tasks <n>         Tasks kept in memory, least recently updated dropped (default: 10000)
      --refresh <s>           Seconds between stats, queue-length and beat refreshes (default: 5)
${COMMON_HELP}
Prints "dashboard: <url>" once it listens.
`;

export async function dashboardCommand(argv: string[], io: CliIo): Promise<number> {
  const p = parse(argv, {
    ...commonOptions,
    port: { type: 'string', short: 'p' },
    host: { type: 'string' },
    'allow-actions': { type: 'boolean' },
    'basic-auth': { type: 'string' },
    queues: { type: 'string', short: 'Q' },
    store: { type: 'string' },
    namespace: { type: 'string' },
    'max-tasks': { type: 'string' },
    refresh: { type: 'string' },
  });
  if (flag(p, 'help')) {
    io.stdout.write(DASHBOARD_HELP);
    return 0;
  }
  const port = intOption(str(p, 'port'), '--port', 0) ?? 5555;
  if (port > 65_535) throw new UsageError(`--port must be at most 65535, got ${port}`);
  const basicAuth = str(p, 'basic-auth');
  if (basicAuth !== undefined && !/^[^:]+:.+$/.test(basicAuth))
    throw new UsageError('--basic-auth must be user:password');
  const refresh = numberOption(str(p, 'refresh'), '--refresh');
  if (refresh !== undefined && !(refresh > 0))
    throw new UsageError('--refresh must be a positive number of seconds');
  const maxTasks = intOption(str(p, 'max-tasks'), '--max-tasks');
  const queues = listOption(str(p, 'queues'));
  const store = str(p, 'store');
  const namespace = str(p, 'namespace');
  const host = str(p, 'host');
  const { app, logger } = await serviceApp(
    p,
    'the broker is memory://: the dashboard sees only this process, where no worker runs',
  );
  let dashboard: Dashboard | undefined;
  const metrics = dashboardMetrics(app, queues);
  await serveUntilSignal({
    logger,
    start: async () => {
      dashboard = await startDashboard({
        app,
        port,
        logger,
        allowActions: flag(p, 'allow-actions'),
        routes: [metrics.route],
        events: metrics.events,
        ...(host === undefined ? {} : { host }),
        ...(basicAuth === undefined ? {} : { basicAuth }),
        ...(queues === undefined ? {} : { queues }),
        ...(store === undefined ? {} : { scheduleStore: store }),
        ...(namespace === undefined ? {} : { scheduleNamespace: namespace }),
        ...(maxTasks === undefined ? {} : { maxTasks }),
        ...(refresh === undefined ? {} : { refreshInterval: refresh }),
      });
      io.stdout.write(`dashboard: ${dashboard.url}\n`);
    },
    onSignal: (signal, stop) => {
      logger.info({ signal }, 'dashboard: stopping');
      stop();
    },
    close: async () => {
      await dashboard?.close();
      await app.close();
    },
  });
  return 0;
}
