import { release } from 'node:os';
import type { CompiledCeleriacOptions } from '@celeriac/client';
import { redactUrl } from '@celeriac/core/internal';

/**
 * What `celery inspect stats|conf|report|active_queues` show, in Celery's shapes, from what a
 * Celeriac worker knows. Pure functions of their inputs (process figures aside), so the
 * shapes are checked without a worker.
 */

/** The figures of the worker that `stats` reports. */
export interface StatsInput {
  readonly totals: ReadonlyMap<string, number>;
  readonly clock: number;
  readonly startedAt: number;
  readonly now: number;
  readonly pool: 'async' | 'threads' | 'process';
  readonly concurrency: number;
  /** Thread ids or child pids; the worker's own pid for the async pool. */
  readonly processes: readonly (number | string)[];
  readonly maxTasksPerChild: number | null;
  readonly running: number;
  readonly prefetch: number;
  readonly brokerUrl: string | undefined;
  readonly brokerKind: string;
  readonly autoscaler: { max: number; min: number } | undefined;
}

/** Celery's `WorkController.stats()`: total, pid, clock, uptime, pool, broker, prefetch_count, rusage. */
export function workerStats(s: StatsInput): Record<string, unknown> {
  const total = [...s.totals.values()].reduce((a, b) => a + b, 0);
  return {
    total: Object.fromEntries(s.totals),
    pid: process.pid,
    clock: String(s.clock),
    uptime: Math.round((s.now - s.startedAt) / 1000),
    pool: {
      implementation: s.pool,
      'max-concurrency': s.concurrency,
      processes: [...s.processes],
      'max-tasks-per-child': s.maxTasksPerChild ?? 'N/A',
      'put-guarded-by-semaphore': false,
      // A worker-wide [soft, hard] default, as prefork's: Celeriac's limits are per task.
      timeouts: [0, 0],
      writes: {
        total,
        avg: total > 0 && s.pool === 'async' ? '100.00%' : '0.00%',
        all: s.pool === 'async' && total > 0 ? '100.00%' : '',
        raw: s.pool === 'async' ? String(total) : '',
        strategy: 'fair',
        inqueues: { total: s.concurrency, active: s.running },
      },
    },
    ...(s.autoscaler ? { autoscaler: { ...s.autoscaler, qty: s.concurrency } } : {}),
    broker: brokerInfo(s.brokerUrl, s.brokerKind),
    prefetch_count: s.prefetch,
    rusage: rusage(),
    sw_ident: 'celeriac',
    sw_sys: process.platform,
    sw_ver: process.version,
  };
}

const DEFAULT_PORTS: Readonly<Record<string, number>> = {
  redis: 6379,
  rediss: 6379,
  sentinel: 26379,
  sentinels: 26379,
  amqp: 5672,
  amqps: 5671,
};

/** kombu's `Connection.info()` without the password, as Celery's stats show it. */
export function brokerInfo(url: string | undefined, kind: string): Record<string, unknown> {
  let u: URL | undefined;
  try {
    // A Sentinel URL lists its sentinels joined by ';': kombu's info shows the first.
    u = url ? new URL(url.split(';')[0]!) : undefined;
  } catch {
    u = undefined;
  }
  const scheme = u?.protocol.replace(/:$/, '') ?? kind;
  const amqp = scheme.startsWith('amqp');
  const path = u ? decodeURIComponent(u.pathname.replace(/^\//, '')) : '';
  return {
    hostname: u?.hostname || 'localhost',
    userid: u?.username ? decodeURIComponent(u.username) : amqp ? 'guest' : null,
    virtual_host: amqp ? path || '/' : path || '0',
    port: u?.port ? Number(u.port) : (DEFAULT_PORTS[scheme] ?? null),
    insist: false,
    ssl:
      scheme === 'rediss' ||
      scheme === 'sentinels' ||
      scheme === 'rediss+cluster' ||
      scheme === 'amqps',
    transport: kind,
    connect_timeout: 4,
    transport_options: {},
    login_method: amqp ? 'PLAIN' : null,
    uri_prefix: null,
    heartbeat: amqp ? 60 : 0,
    failover_strategy: 'round-robin',
    alternates: [],
  };
}

/** `resource.getrusage(RUSAGE_SELF)` in Celery's key names (times in seconds, maxrss in KiB). */
export function rusage(): Record<string, number> {
  const r = process.resourceUsage();
  return {
    utime: r.userCPUTime / 1e6,
    stime: r.systemCPUTime / 1e6,
    maxrss: r.maxRSS,
    ixrss: r.sharedMemorySize,
    idrss: r.unsharedDataSize,
    isrss: r.unsharedStackSize,
    minflt: r.minorPageFault,
    majflt: r.majorPageFault,
    nswap: r.swappedOut,
    inblock: r.fsRead,
    oublock: r.fsWrite,
    msgsnd: r.ipcSent,
    msgrcv: r.ipcReceived,
    nsignals: r.signalsCount,
    nvcsw: r.voluntaryContextSwitches,
    nivcsw: r.involuntaryContextSwitches,
  };
}

/** The worker's settings that `conf` shows next to the app's. */
export interface ConfInput {
  readonly app: CompiledCeleriacOptions;
  readonly queues: readonly string[];
  readonly concurrency: number;
  readonly prefetch: number;
  readonly pool: string;
  readonly hostname: string;
}

/**
 * The app's options under Celery's setting names where Celery has one (`broker_url`,
 * `task_serializer`, `result_expires` in seconds, …), Celeriac's own under `celeriac_*`.
 * URLs have their password masked. `withDefaults` adds the Celery defaults Celeriac follows.
 */
export function workerConf(c: ConfInput, withDefaults: boolean): Record<string, unknown> {
  const o = c.app;
  const url = (u: string | false | undefined): string | null =>
    typeof u === 'string' ? redactUrl(u) : null;
  return {
    broker_url: url(o.brokerUrl),
    result_backend: url(o.backendUrl),
    task_default_queue: o.defaultQueue,
    task_serializer: o.taskSerializer,
    result_serializer: o.resultSerializer,
    accept_content: ['json', 'msgpack'],
    result_expires: o.resultExpiresMs / 1000,
    result_extended: o.resultExtended,
    task_routes: { ...o.routes },
    task_queues: [...c.queues],
    worker_concurrency: c.concurrency,
    worker_prefetch_multiplier: c.prefetch / c.concurrency,
    worker_pool: c.pool,
    celeriac_hostname: c.hostname,
    celeriac_delayed_delivery: o.delayedDelivery,
    celeriac_coordination_url: url(o.coordinationUrl),
    ...(withDefaults
      ? {
          enable_utc: true,
          timezone: 'UTC',
          task_acks_late: true,
          task_default_exchange_type: 'direct',
          result_accept_content: ['json', 'msgpack'],
          worker_send_task_events: false,
        }
      : {}),
  };
}

/** Celery's `app.bugreport()`: software, platform and settings, one block of text. */
export function workerReport(conf: Record<string, unknown>, transport: string): string {
  const results = typeof conf['result_backend'] === 'string' ? conf['result_backend'] : 'disabled';
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(results)?.[1] ?? results;
  const settings = Object.entries(conf)
    .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
    .join('\n');
  return [
    `software -> celeriac node:${process.version}`,
    `platform -> system:${process.platform} arch:${process.arch}`,
    `            kernel version:${release()} imp:node`,
    `settings -> transport:${transport} results:${scheme}`,
    '',
    settings,
    '',
  ].join('\n');
}

/** kombu's `Queue.as_dict(recurse=True)` of a queue Celeriac consumes (its exchange is its name). */
export function queueInfo(name: string): Record<string, unknown> {
  return {
    name,
    exchange: {
      name,
      type: 'direct',
      arguments: null,
      durable: true,
      passive: false,
      auto_delete: false,
      delivery_mode: null,
      no_declare: false,
    },
    routing_key: name,
    queue_arguments: null,
    binding_arguments: null,
    consumer_arguments: null,
    durable: true,
    exclusive: false,
    auto_delete: false,
    no_ack: false,
    alias: null,
    bindings: [],
    no_declare: null,
    expires: null,
    message_ttl: null,
    max_length: null,
    max_length_bytes: null,
    max_priority: null,
  };
}
