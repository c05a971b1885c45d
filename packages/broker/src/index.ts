/**
 * `@celeriac/broker`: implementations of the `Broker` contract, chosen by URL scheme.
 * `memory://` is built in; `redis://` loads `@celeriac/broker/redis` (and ioredis), `amqp://`
 * loads `@celeriac/broker/amqp` (and amqplib) and `sqlite://` loads `@celeriac/broker/sqlite`
 * (and better-sqlite3) only when asked for, so an app never loads a driver it does not use.
 *
 * @example
 * ```ts
 * import { createBroker } from '@celeriac/broker';
 * import { createTaskMessage, encodeTaskMessage } from '@celeriac/core';
 *
 * const broker = await createBroker('memory://');
 * await broker.consume({
 *   queues: ['celery'],
 *   prefetch: 4,
 *   onMessage: (delivery) => {
 *     console.log(delivery.message.headers['task']); // tasks.add
 *     void delivery.ack();
 *   },
 * });
 * await broker.publish('celery', encodeTaskMessage(createTaskMessage({ name: 'tasks.add', args: [2, 3] })));
 * ```
 */
import {
  CeleriacError,
  ErrorCodes,
  loadDriver,
  redactUrl,
  urlScheme,
  type Broker,
  type Clock,
  type Coordination,
  type Logger,
} from '@celeriac/core';
import { MemoryBroker, MemoryCoordination, type MemoryBrokerOptions } from './memory/index.js';

export { MemoryBroker } from './memory/index.js';
export type { MemoryBrokerOptions } from './memory/index.js';

/**
 * Options for {@link createBroker}. The memory options are typed here; any other option is
 * handed to the driver the URL selects (for `redis://`, `RedisBroker`'s options), so one
 * options object serves whatever URL the app is configured with.
 */
export interface CreateBrokerOptions extends Omit<MemoryBrokerOptions, 'url'> {
  [driverOption: string]: unknown;
}

const SUPPORTED = 'memory://, sqlite://, redis://, rediss://, amqp://, amqps://';

/**
 * Creates the broker a URL names: `memory://[name]`, `redis://` / `rediss://` (loads
 * `@celeriac/broker/redis`, which needs `ioredis`), `amqp://` / `amqps://` (loads
 * `@celeriac/broker/amqp`, which needs `amqplib`; options are `AmqpBroker`'s), `sqlite://./file.db`
 * (loads `@celeriac/broker/sqlite`, which needs `better-sqlite3`; options are `SqliteBroker`'s).
 * Throws `CELERIAC_ERR_UNSUPPORTED_URL` for any other scheme and `CELERIAC_ERR_MISSING_DRIVER`
 * when the driver package is not installed.
 */
export async function createBroker(
  url: string,
  options: CreateBrokerOptions = {},
): Promise<Broker> {
  const scheme = urlScheme(url);
  switch (scheme) {
    case 'memory':
      return new MemoryBroker({ ...options, url });
    case 'redis':
    case 'rediss': {
      const RedisBroker = await driver('@celeriac/broker/redis', 'RedisBroker', url);
      return new RedisBroker({ ...options, url });
    }
    case 'amqp':
    case 'amqps': {
      const AmqpBroker = await driver('@celeriac/broker/amqp', 'AmqpBroker', url);
      return new AmqpBroker({ ...options, url });
    }
    case 'sqlite': {
      const SqliteBroker = await driver('@celeriac/broker/sqlite', 'SqliteBroker', url);
      return new SqliteBroker({ ...options, url });
    }
    default:
      throw new CeleriacError(
        ErrorCodes.UNSUPPORTED_URL,
        `broker URL "${redactUrl(url)}" has ${scheme === undefined ? 'no scheme' : `the unknown scheme "${scheme}://"`}; supported: ${SUPPORTED}`,
        { details: { scheme: scheme ?? null } },
      );
  }
}

type BrokerConstructor = new (options: { url: string } & Record<string, unknown>) => Broker;

/** The specifier is a variable so neither TypeScript nor a bundler pulls a driver in unasked. */
function driver<T = BrokerConstructor>(
  specifier: string,
  exportName: string,
  url: string,
  role = 'broker',
): Promise<T> {
  return loadDriver<T>(() => import(specifier), { specifier, exportName, url, role });
}

export { MemoryCoordination } from './memory/index.js';
export type { MemoryCoordinationOptions } from './memory/index.js';

/** `SqliteCoordination`'s options, the ones {@link createCoordination} hands it. */
const SQLITE_COORDINATION_KEYS = ['logger', 'clock', 'busyTimeoutMs', 'pollIntervalMs'] as const;

/** Options for {@link createCoordination}; other keys go to the driver. */
export interface CreateCoordinationOptions {
  clock?: Clock;
  logger?: Logger;
  [driverOption: string]: unknown;
}

/**
 * Creates the coordination store (revocations, rate limits, uniqueness) a URL names:
 * `memory://[name]` (one process), `sqlite://./file.db` (shared by every process on the host)
 * or `redis://` / `rediss://` (shared by every worker). The SQLite store takes only the options
 * it knows from `options` (the app passes its broker options here too).
 */
export async function createCoordination(
  url: string,
  options: CreateCoordinationOptions = {},
): Promise<Coordination> {
  const scheme = urlScheme(url);
  switch (scheme) {
    case 'memory':
      return new MemoryCoordination({ url, ...(options.clock ? { clock: options.clock } : {}) });
    case 'redis':
    case 'rediss': {
      const Ctor = await driver<new (o: { url: string } & Record<string, unknown>) => Coordination>(
        '@celeriac/broker/redis',
        'RedisCoordination',
        url,
        'coordination',
      );
      return new Ctor({ ...options, url });
    }
    case 'sqlite': {
      const Ctor = await driver<new (o: { url: string } & Record<string, unknown>) => Coordination>(
        '@celeriac/broker/sqlite',
        'SqliteCoordination',
        url,
        'coordination',
      );
      const picked: Record<string, unknown> = {};
      for (const key of SQLITE_COORDINATION_KEYS)
        if (options[key] !== undefined) picked[key] = options[key];
      return new Ctor({ ...picked, url });
    }
    default:
      throw new CeleriacError(
        ErrorCodes.UNSUPPORTED_URL,
        `coordination URL "${redactUrl(url)}": revocation, rate limits and uniqueness need memory://, sqlite:// or redis://; pass the app option \`coordination\` a SQLite or Redis URL`,
        { details: { scheme: scheme ?? null } },
      );
  }
}
