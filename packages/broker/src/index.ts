/**
 * `@celeriac/broker`: implementations of the `Broker` contract, chosen by URL scheme.
 * `memory://` is built in; `redis://` loads `@celeriac/broker/redis` (and ioredis), `amqp://`
 * loads `@celeriac/broker/amqp` (and amqplib) and `sqlite://` loads `@celeriac/broker/sqlite`
 * (and better-sqlite3) only when asked for, so an app never loads a driver it does not use.
 * Coordination (revocations, rate limits, uniqueness) has its own door,
 * `@celeriac/broker/coordination`.
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
import { CeleriacError, ErrorCodes, type Broker, type Logger } from '@celeriac/core';
import { loadDriver, redactUrl, urlScheme } from '@celeriac/core/internal';
import { MemoryBroker, type MemoryBrokerOptions } from './memory/index.js';
import type { AmqpBrokerOptions } from './amqp/options.js';
import type { RedisBrokerOptions } from './redis/options.js';
import type { SqliteBrokerOptions } from './sqlite/options.js';

export { MemoryBroker } from './memory/index.js';
export type { MemoryBrokerOptions } from './memory/index.js';
export type { RedisBrokerOptions } from './redis/options.js';
export type { AmqpBrokerOptions } from './amqp/options.js';
export type { AmqpFailoverStrategy } from './amqp/failover.js';
export type { SqliteBrokerOptions } from './sqlite/options.js';

/** `MemoryBroker`'s options as {@link createBroker} takes them: `logger` is accepted (and unused). */
export type MemoryBrokerDriverOptions = Omit<MemoryBrokerOptions, 'url'> & { logger?: Logger };
/** `RedisBroker`'s options as {@link createBroker} takes them (the URL is its own argument). */
export type RedisBrokerDriverOptions = Omit<RedisBrokerOptions, 'url'>;
/** `AmqpBroker`'s options as {@link createBroker} takes them (the URL is its own argument). */
export type AmqpBrokerDriverOptions = Omit<AmqpBrokerOptions, 'url'>;
/** `SqliteBroker`'s options as {@link createBroker} takes them (the URL is its own argument). */
export type SqliteBrokerDriverOptions = Omit<SqliteBrokerOptions, 'url'>;

/**
 * Options for {@link createBroker}: those of the driver the URL selects, which checks them (an
 * option the driver does not know is refused with `CELERIAC_ERR_INVALID_OPTION`, never dropped).
 */
export type CreateBrokerOptions =
  | MemoryBrokerDriverOptions
  | RedisBrokerDriverOptions
  | AmqpBrokerDriverOptions
  | SqliteBrokerDriverOptions;

/**
 * The options type of the driver a broker URL selects, from its scheme: a literal
 * `'redis://…'` takes `RedisBroker`'s options and nothing else. A URL only known at run time
 * (`string`) takes any driver's, checked when the broker is created.
 */
export type BrokerOptionsFor<U extends string> = string extends U
  ? CreateBrokerOptions
  : Lowercase<U> extends `memory://${string}`
    ? MemoryBrokerDriverOptions
    : Lowercase<U> extends
          | `redis://${string}`
          | `rediss://${string}`
          | `sentinel://${string}`
          | `sentinels://${string}`
          | `redis+cluster://${string}`
          | `rediss+cluster://${string}`
      ? RedisBrokerDriverOptions
      : Lowercase<U> extends `amqp://${string}` | `amqps://${string}`
        ? AmqpBrokerDriverOptions
        : Lowercase<U> extends `sqlite://${string}`
          ? SqliteBrokerDriverOptions
          : CreateBrokerOptions;

const SUPPORTED =
  'memory://, sqlite://, redis://, rediss://, sentinel://, sentinels://, redis+cluster://, rediss+cluster://, amqp://, amqps://';

/**
 * Creates the broker a URL names: `memory://[name]`, `redis://` / `rediss://` or Redis
 * Sentinel's `sentinel://` / `sentinels://`, or Redis Cluster's `redis+cluster://` (loads
 * `@celeriac/broker/redis`, which needs `ioredis`), `amqp://` / `amqps://` (loads
 * `@celeriac/broker/amqp`, which needs `amqplib`; options are `AmqpBroker`'s), `sqlite://./file.db`
 * (loads `@celeriac/broker/sqlite`, which needs `better-sqlite3`; options are `SqliteBroker`'s).
 * Throws `CELERIAC_ERR_UNSUPPORTED_URL` for any other scheme and `CELERIAC_ERR_MISSING_DRIVER`
 * when the driver package is not installed.
 */
export async function createBroker<U extends string>(
  url: U,
  options?: BrokerOptionsFor<U>,
): Promise<Broker> {
  const scheme = urlScheme(url);
  switch (scheme) {
    case 'memory': {
      // The memory broker logs nothing; `logger` is the one option every driver takes.
      const { logger: _logger, ...memory } = (options ?? {}) as MemoryBrokerDriverOptions;
      return new MemoryBroker({ ...memory, url });
    }
    case 'redis':
    case 'rediss':
    case 'sentinel':
    case 'sentinels':
    case 'redis+cluster':
    case 'rediss+cluster': {
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
