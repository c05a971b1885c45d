import type { ScheduleStore } from '@celeriac/beat';
import type { Celeriac } from '@celeriac/client';
import { CeleriacError, ErrorCodes, silentLogger, type Logger } from '@celeriac/core';
import { optionChecks, optionTypes as t } from '@celeriac/core/internal';
import { parseBasicAuth, type BasicAuth } from './server/basic-auth.js';
import type { DashboardRoute } from './server/http-kit.js';
import type { DashboardEvent } from './state/celery-event.js';

/** A running subscription to Celery events. */
export interface EventSubscription {
  close(): Promise<void>;
}

/** Subscribes to the app's Celery events (`receiveEvents` of `@celeriac/client`). */
export type EventSubscriber = (
  app: Celeriac,
  onEvent: (event: DashboardEvent) => void,
) => Promise<EventSubscription>;

/** Options of {@link startDashboard}. Durations are in seconds. */
export interface DashboardOptions {
  /** The app whose broker (and result backend) the dashboard watches. */
  app: Celeriac;
  /** @default 5555 (Flower's); 0 picks a free port */
  port?: number;
  /** @default '127.0.0.1' (only this machine: pass '0.0.0.0' to serve others, with basicAuth) */
  host?: string;
  /** Allow replay, purge, pause/resume and revoke from the page. @default false (read-only) */
  allowActions?: boolean;
  /** `user:password` (or an object) the page asks for with HTTP basic auth. @default none */
  basicAuth?: string | BasicAuth;
  /** Tasks kept in memory, least recently updated dropped first. @default 10000 */
  maxTasks?: number;
  /** Queues to show besides the app's default and those the workers consume. @default [] */
  queues?: readonly string[];
  /** Seconds between refreshes of stats, queue lengths, dead letters and beat. @default 5 */
  refreshInterval?: number;
  /**
   * The schedule store beat entries are read from (a store or a redis:// / sqlite:// URL);
   * null hides beat. @default the broker's when it is Redis or SQLite, else none
   */
  scheduleStore?: ScheduleStore | string | null;
  /** The store's namespace, with a URL. @default the store's default */
  scheduleNamespace?: string;
  /** Extra routes (e.g. `/metrics`), matched before the dashboard's own. @default [] */
  routes?: readonly DashboardRoute[];
  /** How events are received. @default receiveEvents of @celeriac/client */
  events?: EventSubscriber;
  /** @default a silent logger */
  logger?: Logger;
}

/** {@link DashboardOptions} with defaults applied, validated. */
export interface CompiledDashboardOptions {
  readonly app: Celeriac;
  readonly port: number;
  readonly host: string;
  readonly allowActions: boolean;
  readonly basicAuth: BasicAuth | null;
  readonly maxTasks: number;
  readonly queues: readonly string[];
  readonly refreshMs: number;
  readonly scheduleStore: ScheduleStore | string | null | undefined;
  readonly scheduleNamespace: string | undefined;
  readonly routes: readonly DashboardRoute[];
  readonly events: EventSubscriber | undefined;
  readonly logger: Logger;
}

const checks = optionChecks('dashboard');

export function compileDashboardOptions(o: DashboardOptions): CompiledDashboardOptions {
  checks.strict(o, {
    app: { expected: 'a Celeriac app', test: (v: unknown) => typeof v === 'object' && v !== null },
    port: t.range(0, 65_535, true),
    host: t.nonEmptyString,
    allowActions: t.boolean,
    basicAuth: t.anyOf(t.string, t.object),
    maxTasks: t.positiveInteger,
    queues: t.arrayOf(t.nonEmptyString),
    refreshInterval: t.positive,
    scheduleStore: t.any,
    scheduleNamespace: t.nonEmptyString,
    routes: t.array,
    events: t.function,
    logger: t.object,
  } satisfies { readonly [K in keyof Required<DashboardOptions>]: unknown });
  if (typeof o.app !== 'object' || o.app === null)
    throw checks.invalid('app', 'is required: the Celeriac app to watch');
  let basicAuth: BasicAuth | null = null;
  if (typeof o.basicAuth === 'string') {
    basicAuth = parseBasicAuth(o.basicAuth);
    if (!basicAuth)
      throw new CeleriacError(
        ErrorCodes.INVALID_OPTION,
        'dashboard option "basicAuth" must be user:password (both non-empty)',
        { details: { option: 'basicAuth', expected: 'user:password' } },
      );
  } else if (o.basicAuth) {
    basicAuth = o.basicAuth;
  }
  return {
    app: o.app,
    port: o.port ?? 5555,
    host: o.host ?? '127.0.0.1',
    allowActions: o.allowActions ?? false,
    basicAuth,
    maxTasks: o.maxTasks ?? 10_000,
    queues: o.queues ?? [],
    refreshMs: (o.refreshInterval ?? 5) * 1000,
    scheduleStore: o.scheduleStore,
    scheduleNamespace: o.scheduleNamespace,
    routes: o.routes ?? [],
    events: o.events,
    logger: o.logger ?? silentLogger,
  };
}
