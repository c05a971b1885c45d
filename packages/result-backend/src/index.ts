/**
 * `@celeriac/result-backend`: implementations of the `ResultBackend` contract, chosen by URL
 * scheme. `memory://` is built in; `redis://` loads `@celeriac/result-backend/redis` (and
 * ioredis), `rpc://` loads `@celeriac/result-backend/rpc` (and amqplib) and `sqlite://` loads
 * `@celeriac/result-backend/sqlite` (and better-sqlite3) only when asked for.
 *
 * @example
 * ```ts
 * import { createResultBackend } from '@celeriac/result-backend';
 * import { buildResultDocument } from '@celeriac/core';
 *
 * const backend = await createResultBackend('memory://');
 * const ready = backend.waitFor('task-1', { timeoutMs: 5000 });
 * await backend.store(buildResultDocument({ taskId: 'task-1', status: 'SUCCESS', result: 5 }));
 * console.log((await ready).result); // 5
 * await backend.close();
 * ```
 */
import {
  CeleriacError,
  ErrorCodes,
  type Clock,
  type Logger,
  type ResultBackend,
  type SerializerName,
} from '@celeriac/core';
import { loadDriver, redactUrl, showValue, urlScheme } from '@celeriac/core/internal';
import { MemoryResultBackend, type MemoryResultBackendOptions } from './memory/index.js';
import type { RedisResultBackendOptions } from './redis/redis-result-backend.js';
import type { RpcResultBackendOptions } from './rpc/options.js';
import type { SqliteResultBackendOptions } from './sqlite/options.js';

export { MemoryResultBackend } from './memory/index.js';
export type { MemoryResultBackendOptions } from './memory/index.js';

/**
 * Options every backend takes from {@link createResultBackend}; a backend that has no use for
 * one is not given it (`brokerUrl` only matters to a bare `rpc://`).
 */
export interface CommonResultBackendOptions {
  /** @default silentLogger */
  logger?: Logger;
  /** @default systemClock */
  clock?: Clock;
  /** How long a stored result lives, in milliseconds. @default one day */
  resultExpiresMs?: number;
  /** The broker's AMQP URL, which a bare `rpc://` sends results over. @default none */
  brokerUrl?: string;
  /**
   * How results are written (Celery's `result_serializer`, the app's `resultSerializer`): the
   * `serializer` of `redis://` and `rpc://` unless their own options set one; `memory://`
   * keeps its JSON round trip whatever this says; `sqlite://` stores JSON and refuses
   * `'msgpack'` with `CELERIAC_ERR_INVALID_OPTION`.
   * @default 'json'
   */
  resultSerializer?: SerializerName;
}

/** `MemoryResultBackend`'s options as {@link createResultBackend} takes them. */
export type MemoryResultBackendDriverOptions = Omit<MemoryResultBackendOptions, 'url'> &
  CommonResultBackendOptions;
/** `RedisResultBackend`'s options as {@link createResultBackend} takes them. */
export type RedisResultBackendDriverOptions = Omit<RedisResultBackendOptions, 'url'> &
  CommonResultBackendOptions;
/** `RpcResultBackend`'s options as {@link createResultBackend} takes them. */
export type RpcResultBackendDriverOptions = Omit<RpcResultBackendOptions, 'url'> &
  CommonResultBackendOptions;

/** `SqliteResultBackend`'s options as {@link createResultBackend} takes them. */
export type SqliteResultBackendDriverOptions = Omit<SqliteResultBackendOptions, 'url'> &
  CommonResultBackendOptions;

/**
 * Options for {@link createResultBackend}: those of the backend the URL selects, which checks
 * them (an option it does not know is refused with `CELERIAC_ERR_INVALID_OPTION`, never dropped).
 */
export type CreateResultBackendOptions =
  | MemoryResultBackendDriverOptions
  | RedisResultBackendDriverOptions
  | RpcResultBackendDriverOptions
  | SqliteResultBackendDriverOptions;

/** The options type of the backend a URL selects, from its scheme (any backend's for a `string`). */
export type ResultBackendOptionsFor<U extends string> = string extends U
  ? CreateResultBackendOptions
  : Lowercase<U> extends `memory://${string}`
    ? MemoryResultBackendDriverOptions
    : Lowercase<U> extends
          | `redis://${string}`
          | `rediss://${string}`
          | `sentinel://${string}`
          | `sentinels://${string}`
          | `redis+cluster://${string}`
          | `rediss+cluster://${string}`
      ? RedisResultBackendDriverOptions
      : Lowercase<U> extends `rpc://${string}`
        ? RpcResultBackendDriverOptions
        : Lowercase<U> extends `sqlite://${string}`
          ? SqliteResultBackendDriverOptions
          : CreateResultBackendOptions;

const SUPPORTED =
  'memory://, redis://, rediss://, sentinel://, sentinels://, redis+cluster://, rediss+cluster://, rpc://, sqlite://';

/**
 * Creates the result backend a URL names: `memory://[name]`, `redis://` / `rediss://` (loads
 * `@celeriac/result-backend/redis`, which needs `ioredis`), `rpc://` (loads
 * `@celeriac/result-backend/rpc`, which needs `amqplib`; a bare `rpc://` needs the AMQP broker
 * URL in `options.brokerUrl`, as Celery's rpc backend uses the broker's connection),
 * `sqlite://./file.db` (loads `@celeriac/result-backend/sqlite`, which needs `better-sqlite3`).
 * Throws `CELERIAC_ERR_UNSUPPORTED_URL` for any other scheme and `CELERIAC_ERR_MISSING_DRIVER`
 * when the driver package is not installed.
 */
export async function createResultBackend<U extends string>(
  url: U,
  options?: ResultBackendOptionsFor<U>,
): Promise<ResultBackend> {
  const scheme = urlScheme(url);
  const { resultSerializer, ...given } = (options ?? {}) as CommonResultBackendOptions &
    Record<string, unknown>;
  if (
    resultSerializer !== undefined &&
    resultSerializer !== 'json' &&
    resultSerializer !== 'msgpack'
  ) {
    throw new CeleriacError(
      ErrorCodes.INVALID_OPTION,
      `result backend option "resultSerializer" must be "json" or "msgpack", got ${showValue(resultSerializer)}`,
      {
        details: {
          option: 'resultSerializer',
          value: resultSerializer,
          expected: '"json" or "msgpack"',
        },
      },
    );
  }
  // The backend's own `serializer` wins over the app-wide one; it checks the value itself.
  const serializer = given['serializer'] ?? resultSerializer;
  const withSerializer = serializer === undefined ? {} : { serializer };
  switch (scheme) {
    case 'memory': {
      const { logger: _logger, brokerUrl: _brokerUrl, ...memory } = given;
      return new MemoryResultBackend({ ...memory, url });
    }
    case 'redis':
    case 'rediss':
    case 'sentinel':
    case 'sentinels':
    case 'redis+cluster':
    case 'rediss+cluster': {
      const RedisResultBackend = await driver(
        '@celeriac/result-backend/redis',
        'RedisResultBackend',
        url,
      );
      const { clock: _clock, brokerUrl: _brokerUrl, ...redis } = given;
      return new RedisResultBackend({ ...redis, ...withSerializer, url });
    }
    case 'rpc': {
      const RpcResultBackend = await driver(
        '@celeriac/result-backend/rpc',
        'RpcResultBackend',
        url,
      );
      return new RpcResultBackend({ ...given, ...withSerializer, url });
    }
    case 'sqlite': {
      if (resultSerializer !== undefined && resultSerializer !== 'json') {
        throw new CeleriacError(
          ErrorCodes.INVALID_OPTION,
          `resultSerializer ${JSON.stringify(resultSerializer)} is not supported by the SQLite result backend, which stores JSON: use "json", or a redis:// or rpc:// backend for msgpack results`,
          { details: { option: 'resultSerializer', value: resultSerializer, expected: '"json"' } },
        );
      }
      const SqliteResultBackend = await driver(
        '@celeriac/result-backend/sqlite',
        'SqliteResultBackend',
        url,
      );
      // `brokerUrl` is for rpc://; the SQLite backend checks its options strictly.
      const { brokerUrl: _brokerUrl, ...rest } = given;
      return new SqliteResultBackend({ ...rest, url });
    }
    case 'amqp':
    case 'amqps':
      throw new CeleriacError(
        ErrorCodes.UNSUPPORTED_URL,
        `result backend URL "${redactUrl(url)}": there is no amqp:// result backend (Celery 5 removed its own); use rpc:// for results sent back over RabbitMQ (rpc://user:password@host/vhost, or a bare rpc:// to use the broker's), or redis://`,
        { details: { scheme } },
      );
    default:
      throw new CeleriacError(
        ErrorCodes.UNSUPPORTED_URL,
        `result backend URL "${redactUrl(url)}" has ${scheme === undefined ? 'no scheme' : `the unknown scheme "${scheme}://"`}; supported: ${SUPPORTED}`,
        { details: { scheme: scheme ?? null } },
      );
  }
}

type BackendConstructor = new (options: { url: string } & Record<string, unknown>) => ResultBackend;

/** The specifier is a variable so neither TypeScript nor a bundler pulls a driver in unasked. */
function driver(specifier: string, exportName: string, url: string): Promise<BackendConstructor> {
  return loadDriver<BackendConstructor>(() => import(specifier), {
    specifier,
    exportName,
    url,
    role: 'result backend',
  });
}
