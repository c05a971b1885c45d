import {
  CeleriacError,
  ErrorCodes,
  silentLogger,
  type Logger,
  type SerializerName,
} from '@celeriac/core';
import {
  optionChecks,
  optionTypes as t,
  type OptionType,
  DEFAULT_RESULT_EXPIRES_MS,
} from '@celeriac/core/internal';
import type { Redis, RedisOptions } from 'ioredis';
import {
  clusterClientTarget,
  compileWaitOptions,
  isClusterClient,
  sentinelTarget,
  type WaitOptions,
} from '@celeriac/broker/redis/internal';
import { endpointTarget } from './connection.js';
import { CELERY_TASK_KEY_PREFIX } from './keys.js';

/** Options of `RedisResultBackend`. Pass `url`, or `client` to share a connection. */
export interface RedisResultBackendOptions {
  /**
   * `redis://[[user]:password@]host[:port][/db]` or `rediss://…` (TLS), as Celery's
   * `result_backend` setting; or, through Redis Sentinel,
   * `sentinel://host1:26379;sentinel://host2:26379/0?master_name=mymaster` (`sentinels://` for
   * TLS; see docs/redis.md, "Sentinel"). Required unless `client` is given.
   */
  url?: string;
  /**
   * An ioredis client to run commands on, instead of opening one from `url`. The backend
   * never closes it. Waiting for results needs a connection in subscriber mode, which the
   * backend opens itself with `client.duplicate()` (and closes). The client must not have a
   * `keyPrefix`: use this backend's `keyPrefix` option.
   * @default a client opened from `url`
   */
  client?: Redis;
  /**
   * How long a stored document lives, in milliseconds, unless `store()` says otherwise
   * (Celery's `result_expires`).
   * @default DEFAULT_RESULT_EXPIRES_MS (one day)
   */
  resultExpiresMs?: number;
  /**
   * Prefix of the result keys and channels. Python clients read Celery's.
   * @default 'celery-task-meta-'
   */
  keyPrefix?: string;
  /**
   * How documents are written (Celery's `result_serializer`): `'msgpack'` for Python clients
   * whose app sets `result_serializer='msgpack'`, which read every result as msgpack. Stored
   * and published documents are read in JSON and msgpack whatever this says.
   * @default 'json'
   */
  serializer?: SerializerName;
  /**
   * A pino-shaped logger; the backend logs through a child bound to `{ component: 'result-backend', backend: 'redis' }`.
   * @default silentLogger
   */
  logger?: Logger;
  /**
   * ioredis options for the connections the backend opens from `url` (its command
   * connection and its subscriber). Values in the URL win over these, as ioredis does. With
   * a Sentinel URL, `name` is the master's name and `sentinelPassword` the sentinels' password.
   * @default {}
   */
  redisOptions?: RedisOptions;
  /**
   * Replicas that must confirm each stored result (with the ack fused into its write) before
   * `store()` resolves (Redis `WAIT`, sent in the same write): a stored result then survives a
   * failover to one of them. 0 sends no `WAIT`. Also `?wait_replicas=` in the URL. Fewer
   * confirmations within `waitTimeoutMs` reject the store with `CELERIAC_ERR_NOT_REPLICATED`.
   * @default 0
   */
  waitReplicas?: number;
  /**
   * How long a store waits for `waitReplicas` replicas, in milliseconds (the command
   * connection is blocked meanwhile). Also `?wait_timeout_ms=` in the URL.
   * @default 2000
   */
  waitTimeoutMs?: number;
}

/** `RedisResultBackendOptions` checked, with their defaults applied. */
export interface CompiledRedisResultBackendOptions {
  readonly url: string;
  readonly resultExpiresMs: number;
  readonly keyPrefix: string;
  readonly serializer: SerializerName;
  readonly logger: Logger;
  readonly redisOptions: RedisOptions;
  /** Replicas a store waits for, and how long; undefined when it waits for none. */
  readonly wait: WaitOptions | undefined;
}

/** `CELERIAC_ERR_INVALID_OPTION` naming the option and the value refused. */
export function invalid(option: string, message: string, value: unknown): CeleriacError {
  return new CeleriacError(ErrorCodes.INVALID_OPTION, message, { details: { option, value } });
}

/** A document lifetime in whole milliseconds; refuses what is not positive and finite. */
export function checkExpires(option: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) {
    throw invalid(
      option,
      `${option} must be a positive number of milliseconds, got ${String(value)}: every result document expires`,
      value,
    );
  }
  return Math.ceil(value);
}

const SPEC = {
  url: t.nonEmptyString,
  client: t.object,
  resultExpiresMs: t.positive,
  keyPrefix: t.nonEmptyString,
  serializer: t.oneOf('json', 'msgpack'),
  logger: t.object,
  redisOptions: t.object,
  waitReplicas: t.nonNegativeInteger,
  waitTimeoutMs: t.positiveInteger,
} as const satisfies { readonly [K in keyof Required<RedisResultBackendOptions>]: OptionType };

/** Checks the options (an unknown key is refused) and applies the defaults. */
export function compileRedisResultBackendOptions(
  options: RedisResultBackendOptions,
): CompiledRedisResultBackendOptions {
  optionChecks('RedisResultBackend').strict(options, SPEC, {
    renamed: { resultExpires: 'resultExpiresMs' },
  });
  const { client } = options;
  let url: string;
  if (client) {
    if (client.options.keyPrefix) {
      throw invalid(
        'client',
        `the ioredis client passed to RedisResultBackend has keyPrefix "${client.options.keyPrefix}"; pass a client without one and set the backend's keyPrefix option`,
        client.options.keyPrefix,
      );
    }
    const { host = 'localhost', port = 6379, db = 0, sentinels, name } = client.options;
    url = isClusterClient(client)
      ? clusterClientTarget(client)
      : sentinels && name
        ? sentinelTarget(name, sentinels, db)
        : endpointTarget({ host, port, db });
  } else if (options.url) {
    url = options.url;
  } else {
    throw invalid(
      'url',
      'RedisResultBackend needs a url (such as "redis://localhost:6379/0") or an ioredis client',
      undefined,
    );
  }
  const keyPrefix = options.keyPrefix ?? CELERY_TASK_KEY_PREFIX;
  if (typeof keyPrefix !== 'string' || keyPrefix === '') {
    throw invalid('keyPrefix', 'keyPrefix must be a non-empty string', keyPrefix);
  }
  return {
    url,
    resultExpiresMs: checkExpires(
      'resultExpiresMs',
      options.resultExpiresMs ?? DEFAULT_RESULT_EXPIRES_MS,
    ),
    keyPrefix,
    serializer: options.serializer ?? 'json',
    logger: (options.logger ?? silentLogger).child({
      component: 'result-backend',
      backend: 'redis',
    }),
    redisOptions: options.redisOptions ?? {},
    wait: compileWaitOptions(
      'RedisResultBackend',
      options,
      client ? undefined : url,
      options.redisOptions,
    ),
  };
}
