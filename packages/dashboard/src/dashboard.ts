import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createScheduleStore, defaultStoreUrl, type ScheduleStore } from '@celeriac/beat';
import { redactUrl } from '@celeriac/core/internal';
import { Cluster } from './cluster.js';
import {
  compileDashboardOptions,
  type CompiledDashboardOptions,
  type DashboardOptions,
  type EventSubscription,
} from './dashboard-options.js';
import { defaultEventSubscriber } from './default-events.js';
import { apiRoutes } from './server/api-routes.js';
import { createRequestHandler } from './server/request-handler.js';
import { SseHub } from './server/sse-hub.js';
import { DashboardState } from './state/dashboard-state.js';

/** A running dashboard. */
export interface Dashboard {
  /** `http://host:port/`, the page's address. */
  readonly url: string;
  readonly port: number;
  /** What the dashboard learnt from events (tests and embedders read it). */
  readonly state: DashboardState;
  /** Stops serving, ends the pages' streams, closes what it opened (not the app). Idempotent. */
  close(): Promise<void>;
}

/** How often changes are pushed to the pages: often enough to look live, batched under load. */
const FLUSH_MS = 250;
const SERIES_MS = 1000;

/** A URL with its password shown as `***`, for the page's header (core's one redactor). */
function redact(url: string | false | undefined): string | null {
  return typeof url === 'string' ? redactUrl(url) : null;
}

async function openScheduleStore(
  o: CompiledDashboardOptions,
): Promise<{ store: ScheduleStore | null; opened: boolean; reason: string }> {
  if (o.scheduleStore === null)
    return { store: null, opened: false, reason: 'beat is hidden (no schedule store)' };
  if (typeof o.scheduleStore === 'object')
    return { store: o.scheduleStore, opened: false, reason: '' };
  const url = o.scheduleStore ?? defaultStoreUrl(o.app);
  if (!/^(rediss?|sentinels?|sqlite):\/\//i.test(url))
    return {
      store: null,
      opened: false,
      reason:
        'no shared schedule store: beat entries live in Redis or SQLite (pass --store, or use such a broker)',
    };
  const store = await createScheduleStore(
    url,
    o.scheduleNamespace === undefined ? {} : { namespace: o.scheduleNamespace },
  );
  return { store, opened: true, reason: '' };
}

/**
 * Starts the dashboard: an HTTP server with the page, a JSON API and a server-sent-events
 * stream, fed by Celery events (workers, tasks, charts) and by remote control and the broker
 * (stats, queue lengths, dead letters, beat entries) every `refreshInterval`. It never polls
 * task result keys; a task's stored result is read once, when its detail is opened.
 *
 * @example
 * ```ts
 * const dashboard = await startDashboard({ app, port: 5555, allowActions: true });
 * console.log(`dashboard on ${dashboard.url}`);
 * process.once('SIGTERM', () => void dashboard.close());
 * ```
 */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const o = compileDashboardOptions(options);
  const { app, logger } = o;
  const now = (): number => Date.now();
  const state = new DashboardState({ maxTasks: o.maxTasks });
  const hub = new SseHub();
  const beat = await openScheduleStore(o);
  const cluster = new Cluster({
    app,
    state,
    queues: o.queues,
    scheduleStore: beat.store,
    beatReason: beat.reason,
    logger,
  });
  const views = async (): Promise<{ queues: unknown; beat: unknown }> => {
    const [queues, beatInfo] = await Promise.all([cluster.queueInfo(now()), cluster.beat(now())]);
    return { queues, beat: beatInfo };
  };
  const refreshViews = async (): Promise<void> => {
    const v = await views();
    hub.broadcast('queues', v.queues);
    hub.broadcast('beat', v.beat);
  };
  const config = {
    allowActions: o.allowActions,
    broker: redact(app.options.brokerUrl),
    backend: redact(app.options.backendUrl),
    maxTasks: o.maxTasks,
    refreshInterval: o.refreshMs / 1000,
    version: '0.1.0',
  };
  const snapshot = async (): Promise<Record<string, unknown>> => ({
    ...state.snapshot(now()),
    ...(await views()),
    config,
  });
  const routes = [
    ...o.routes,
    ...apiRoutes({ state, cluster, hub, now, config, snapshot, refreshViews }),
  ];

  // Events first, so nothing between the first stats round and the subscription is missed.
  let subscription: EventSubscription | undefined;
  const closers: (() => Promise<void>)[] = [];
  const server: Server = createServer(
    createRequestHandler({
      routes,
      allowActions: o.allowActions,
      basicAuth: o.basicAuth,
      logger,
    }),
  );
  try {
    subscription = await (o.events ?? defaultEventSubscriber)(app, (e) => state.apply(e, now()));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port, o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await subscription?.close();
    if (beat.opened) await beat.store?.close();
    throw err;
  }

  const flush = setInterval(() => {
    const changes = state.drain(now());
    if (changes.tasks.length > 0 || changes.workers.length > 0) hub.broadcast('update', changes);
  }, FLUSH_MS);
  const series = setInterval(() => {
    hub.broadcast('series', {
      series: state.series.snapshot(now()),
      taskCounts: state.tasks.countByState(),
      eventCounts: state.eventCounts,
    });
    hub.ping();
  }, SERIES_MS);
  // One round at a time; the round in flight is awaited on close, so none runs on a closed app.
  let closed = false;
  let inflight: Promise<void> | undefined;
  const round = async (): Promise<void> => {
    try {
      await cluster.refreshWorkers(now, 2 * o.refreshMs + 2000);
      await refreshViews();
    } catch (err) {
      logger.warn({ err }, 'dashboard: refresh failed');
    }
  };
  const refresh = (): void => {
    if (closed || inflight) return;
    inflight = round().finally(() => (inflight = undefined));
  };
  refresh();
  const refresher = setInterval(refresh, o.refreshMs);
  closers.push(async () => {
    closed = true;
    clearInterval(flush);
    clearInterval(series);
    clearInterval(refresher);
    await inflight;
    hub.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await subscription?.close();
    if (beat.opened) await beat.store?.close();
  });

  const port = (server.address() as AddressInfo).port;
  const shownHost = o.host.includes(':') ? `[${o.host}]` : o.host;
  logger.info({ port, host: o.host, allowActions: o.allowActions }, 'dashboard: listening');
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    state,
    close: () =>
      (closing ??= (async () => {
        for (const c of closers) await c();
      })()),
  };
}
