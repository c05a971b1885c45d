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
  loadDriver,
  redactUrl,
  urlScheme,
  type ResultBackend,
} from '@celeriac/core';
import { MemoryResultBackend, type MemoryResultBackendOptions } from './memory/index.js';

export { MemoryResultBackend } from './memory/index.js';
export type { MemoryResultBackendOptions } from './memory/index.js';

/**
 * Options for {@link createResultBackend}. The memory options are typed here; any other option
 * is handed to the backend the URL selects (for `redis://`, `RedisResultBackend`'s options).
 */
export interface CreateResultBackendOptions extends Omit<MemoryResultBackendOptions, 'url'> {
  [driverOption: string]: unknown;
}

const SUPPORTED = 'memory://, redis://, rediss://, rpc://, sqlite://';

/**
 * Creates the result backend a URL names: `memory://[name]`, `redis://` / `rediss://` (loads
 * `@celeriac/result-backend/redis`, which needs `ioredis`), `rpc://` (loads
 * `@celeriac/result-backend/rpc`, which needs `amqplib`; a bare `rpc://` needs the AMQP broker
 * URL in `options.brokerUrl`, as Celery's rpc backend uses the broker's connection),
 * `sqlite://./file.db` (loads `@celeriac/result-backend/sqlite`, which needs `better-sqlite3`).
 * Throws `CELERIAC_ERR_UNSUPPORTED_URL` for any other scheme and `CELERIAC_ERR_MISSING_DRIVER`
 * when the driver package is not installed.
 */
export async function createResultBackend(
  url: string,
  options: CreateResultBackendOptions = {},
): Promise<ResultBackend> {
  const scheme = urlScheme(url);
  switch (scheme) {
    case 'memory':
      return new MemoryResultBackend({ ...options, url });
    case 'redis':
    case 'rediss': {
      const RedisResultBackend = await driver(
        '@celeriac/result-backend/redis',
        'RedisResultBackend',
        url,
      );
      return new RedisResultBackend({ ...options, url });
    }
    case 'rpc': {
      const RpcResultBackend = await driver(
        '@celeriac/result-backend/rpc',
        'RpcResultBackend',
        url,
      );
      return new RpcResultBackend({ ...options, url });
    }
    case 'sqlite': {
      const SqliteResultBackend = await driver(
        '@celeriac/result-backend/sqlite',
        'SqliteResultBackend',
        url,
      );
      // `brokerUrl` is for rpc://; the SQLite backend checks its options strictly.
      const { brokerUrl: _brokerUrl, ...rest } = options;
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
