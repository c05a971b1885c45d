import type { CreateBrokerOptions } from '@celeriac/broker';
import {
  type Broker,
  type Clock,
  type Coordination,
  type Logger,
  type ResultBackend,
  type SerializerName,
} from '@celeriac/core';
import {
  optionChecks,
  optionTypes as t,
  REDIS_SCHEMES,
  type OptionType,
} from '@celeriac/core/internal';
import type { CreateResultBackendOptions } from '@celeriac/result-backend';

/**
 * Options of `new Celeriac()`. Every one has a default; env variables fill the URLs. Durations
 * are in seconds, as Celery's settings. An unknown key or a wrong type is refused with
 * `CELERIAC_ERR_INVALID_OPTION`, naming the key and the nearest valid spelling.
 */
export interface CeleriacOptions {
  /**
   * Broker URL (`memory://`, `redis://`, `rediss://`, `amqp://`, `amqps://`) or a `Broker`
   * instance.
   * @default `CELERIAC_BROKER_URL`, else `memory://`
   */
  broker?: string | Broker;
  /**
   * Result backend URL or instance; `false` stores no results.
   * @default `CELERIAC_RESULT_BACKEND`, else the broker's URL when it is memory, Redis or SQLite
   */
  backend?: string | ResultBackend | false;
  /** Queue for tasks with no queue of their own. @default 'celery' (Celery's default) */
  defaultQueue?: string;
  /** Serializer for task messages. @default 'json' */
  taskSerializer?: SerializerName;
  /**
   * How results are written (Celery's `result_serializer`) by the backend the app creates from
   * its URL: `'msgpack'` for Python clients whose app sets `result_serializer='msgpack'`.
   * Redis and `rpc://` read either whatever this says; SQLite refuses `'msgpack'`. Not for a
   * backend instance: set its own `serializer`.
   * @default 'json'
   */
  resultSerializer?: SerializerName;
  /** Seconds a stored result lives. @default 86400 (one day, as Celery) */
  resultExpires?: number;
  /** Task name (or `prefix.*` glob) → queue. */
  routes?: Record<string, string>;
  /**
   * Where a countdown/ETA task waits. `broker`: in the broker's delay store, nothing held
   * unacked: on Redis a sorted set whose due messages any live Celeriac consumer of the queue
   * moves to it; on RabbitMQ the delay levels, which RabbitMQ itself moves on. `consumer`:
   * published to its queue at once with its `eta` header, as Celery does; the consuming worker
   * holds it until due (a Celeriac worker hands it back to the broker's delay store). `auto`:
   * `broker`, except on Redis for a queue no live Celeriac worker consumes (Python Celery
   * workers only, or none yet), where it is `consumer`, so Python workers run it on time.
   * @default 'auto'
   */
  delayedDelivery?: 'auto' | 'broker' | 'consumer';
  /**
   * Send Celery's `task-sent` event on `celeryev` for each task this app publishes (Celery's
   * `task_send_sent_event`), so Flower and celery-exporter count sent tasks. Redis and
   * RabbitMQ only; one more small publish per task. @default false
   */
  taskSendSentEvent?: boolean;
  /**
   * Store `name, args, kwargs, worker, retries, queue` with each result (Celery's
   * `result_extended`). @default false
   */
  resultExtended?: boolean;
  /**
   * Where revocations, rate limits and uniqueness claims are shared: a URL or instance.
   * @default the broker's URL when it is memory, SQLite or Redis, else the backend's when it is
   * SQLite or Redis, else per process (`memory://`)
   */
  coordination?: string | Coordination;
  /** A pino-shaped logger. @default pino at `CELERIAC_LOG_LEVEL` (info) */
  logger?: Logger;
  clock?: Clock;
  /**
   * Options of the broker driver the URL selects (`RedisBroker`'s for `redis://`, `AmqpBroker`'s
   * for `amqp://`, ...), checked by that driver when the broker is created: a key it does not
   * know is refused, never dropped. A Redis broker's `redisOptions` also serve the coordination
   * store when it shares the broker's URL.
   * @default {}
   */
  brokerOptions?: CreateBrokerOptions;
  /**
   * Options of the result backend the URL selects, checked by that backend when it is created.
   * @default {}
   */
  backendOptions?: CreateResultBackendOptions;
}

/** Options as compiled: defaults applied, validated, read-only. */
export interface CompiledCeleriacOptions {
  readonly brokerUrl: string | undefined;
  readonly backendUrl: string | false | undefined;
  readonly defaultQueue: string;
  readonly taskSerializer: SerializerName;
  readonly resultSerializer: SerializerName;
  readonly resultExpiresMs: number;
  readonly routes: Readonly<Record<string, string>>;
  readonly delayedDelivery: 'auto' | 'broker' | 'consumer';
  readonly resultExtended: boolean;
  readonly taskSendSentEvent: boolean;
  readonly coordinationUrl: string | undefined;
}

/** `redis` of `redis://…`, lower-cased; '' when the text has no scheme. */
export function urlScheme(url: string): string {
  return url.slice(0, Math.max(0, url.indexOf('://'))).toLowerCase();
}

function coordinationUrl(
  given: CeleriacOptions['coordination'],
  brokerUrl: string | undefined,
  backendUrl: string | false | undefined,
): string | undefined {
  if (typeof given === 'string') return given;
  if (given) return undefined;
  const shared = ['memory', 'sqlite', ...REDIS_SCHEMES];
  if (brokerUrl && shared.includes(urlScheme(brokerUrl))) return brokerUrl;
  if (backendUrl && ['sqlite', ...REDIS_SCHEMES].includes(urlScheme(backendUrl))) return backendUrl;
  return 'memory://';
}

/** What a `serializer` / `taskSerializer` option takes. */
export const serializerType = t.oneOf('json', 'msgpack');
const instance: OptionType = {
  expected: 'an instance',
  test: (v) => typeof v === 'object' && v !== null,
};
const routesType: OptionType = {
  expected: 'an object of task name (or prefix.* glob) to queue name',
  test: (v) =>
    t.object.test(v) && Object.values(v as object).every((q) => typeof q === 'string' && q !== ''),
};

const CELERIAC_SPEC = {
  broker: t.anyOf(t.nonEmptyString, { expected: 'a Broker', test: instance.test }),
  backend: t.anyOf(
    t.nonEmptyString,
    { expected: 'a ResultBackend', test: instance.test },
    t.oneOf(false),
  ),
  defaultQueue: t.nonEmptyString,
  taskSerializer: serializerType,
  resultSerializer: serializerType,
  resultExpires: t.seconds,
  routes: routesType,
  delayedDelivery: t.oneOf('auto', 'broker', 'consumer'),
  resultExtended: t.boolean,
  taskSendSentEvent: t.boolean,
  coordination: t.anyOf(t.nonEmptyString, { expected: 'a Coordination', test: instance.test }),
  logger: t.object,
  clock: t.object,
  brokerOptions: t.object,
  backendOptions: t.object,
} as const satisfies { readonly [K in keyof Required<CeleriacOptions>]: OptionType };

const celeriacChecks = optionChecks('Celeriac');

/** `CeleriacOptions` checked, with defaults and the environment's URLs applied. */
export function compileCeleriacOptions(o: CeleriacOptions): CompiledCeleriacOptions {
  celeriacChecks.strict(o, CELERIAC_SPEC, { renamed: { resultExpiresMs: 'resultExpires' } });
  if (o.resultSerializer !== undefined && typeof o.backend === 'object') {
    throw celeriacChecks.invalid(
      'resultSerializer',
      'applies to a backend the app creates from a URL; a backend instance takes its own: pass `serializer` to it (or give the app a URL)',
      { value: o.resultSerializer },
    );
  }
  const env = process.env;
  const brokerUrl =
    typeof o.broker === 'string'
      ? o.broker
      : o.broker
        ? undefined
        : (env['CELERIAC_BROKER_URL'] ?? 'memory://');
  let backendUrl: string | false | undefined;
  if (o.backend === false) backendUrl = false;
  else if (typeof o.backend === 'string') backendUrl = o.backend;
  else if (o.backend) backendUrl = undefined;
  else if (env['CELERIAC_RESULT_BACKEND']) backendUrl = env['CELERIAC_RESULT_BACKEND'];
  else if (brokerUrl && ['memory', 'sqlite', ...REDIS_SCHEMES].includes(urlScheme(brokerUrl)))
    backendUrl = brokerUrl;
  else backendUrl = false;
  return Object.freeze({
    brokerUrl,
    backendUrl,
    defaultQueue: o.defaultQueue ?? 'celery',
    taskSerializer: o.taskSerializer ?? 'json',
    resultSerializer: o.resultSerializer ?? 'json',
    resultExpiresMs: (o.resultExpires ?? 86_400) * 1000,
    routes: Object.freeze({ ...o.routes }),
    delayedDelivery: o.delayedDelivery ?? 'auto',
    resultExtended: o.resultExtended === true,
    taskSendSentEvent: o.taskSendSentEvent === true,
    coordinationUrl: coordinationUrl(o.coordination, brokerUrl, backendUrl),
  });
}

/** Whether a delayed task for `queue` waits in the broker's delay store (`delayedDelivery`). */
export async function delaysInBroker(
  options: Pick<CompiledCeleriacOptions, 'delayedDelivery'>,
  broker: Broker,
  queue: string,
): Promise<boolean> {
  if (options.delayedDelivery !== 'auto') return options.delayedDelivery === 'broker';
  return broker.hasDelayedMover ? broker.hasDelayedMover(queue) : true;
}
