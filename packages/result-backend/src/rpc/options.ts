import { randomUUID } from 'node:crypto';
import {
  AMQP_CONNECT_RENAMED,
  AMQP_CONNECT_SPEC,
  compileAmqpConnectOptions,
  safeUrl,
  type CompiledAmqpConnectOptions,
} from '@celeriac/broker/amqp/internal';
import {
  CeleriacError,
  ErrorCodes,
  type Clock,
  type Logger,
  type SerializerName,
} from '@celeriac/core';
import {
  optionChecks,
  optionTypes as t,
  type OptionType,
  DEFAULT_RESULT_EXPIRES_MS,
} from '@celeriac/core/internal';

/**
 * Options of `RpcResultBackend`. Durations in milliseconds end in `Ms`; `heartbeat` is in
 * seconds, as AMQP's. Unknown keys and wrong types are refused with `CELERIAC_ERR_INVALID_OPTION`.
 */
export interface RpcResultBackendOptions {
  /**
   * `rpc://`, as Celery writes it: results travel over the broker, whose AMQP URL is then
   * `brokerUrl`. `rpc://user:password@host:port/vhost` names the AMQP server itself, and an
   * `amqp://` or `amqps://` URL is taken as is.
   */
  url: string;
  /**
   * The broker's AMQP URL, for a bare `rpc://`.
   * @default process.env.CELERIAC_BROKER_URL
   */
  brokerUrl?: string;
  /**
   * The queue this backend's results come back on: the `reply_to` of the tasks its client
   * publishes (Celery uses its app's `oid`, a uuid). Give every process its own.
   * @default a random uuid
   */
  replyQueue?: string;
  /**
   * How long a stored result lives: its AMQP `expiration`, and how long a reader keeps it.
   * @default 86_400_000 (one day, Celery's `result_expires`)
   */
  resultExpiresMs?: number;
  /**
   * How long the reply queue survives without a consumer (`x-expires`), e.g. after this process
   * died without `close()`; `close()` deletes it at once.
   * @default 86_400_000 (one day, as Celery declares its reply queues)
   */
  replyQueueExpiresMs?: number;
  /**
   * Publishes results with `delivery_mode` 2 (Celery's `result_persistent`).
   * @default false
   */
  persistent?: boolean;
  /**
   * How results are serialized (Celery's `result_serializer`). Results are read in JSON and
   * msgpack whatever this says.
   * @default 'json'
   */
  serializer?: SerializerName;
  /**
   * Most results kept in memory for `get()` and `waitFor()`; the oldest go first.
   * @default 10_000
   */
  cacheLimit?: number;
  /**
   * How long an operation waits for a connection while RabbitMQ is unreachable before it fails
   * with `CELERIAC_ERR_BACKEND_UNAVAILABLE`, in milliseconds. The backend keeps reconnecting
   * meanwhile.
   * @default 30_000
   */
  connectTimeoutMs?: number;
  /** The first pause between reconnection attempts, in milliseconds; it doubles up to `reconnectMaxDelayMs`. @default 100 */
  reconnectInitialDelayMs?: number;
  /** The longest pause between reconnection attempts, in milliseconds. @default 5_000 */
  reconnectMaxDelayMs?: number;
  /**
   * The AMQP heartbeat in seconds, unless the URL sets `heartbeat`. `0` takes the server's
   * value (AMQP lets either side impose one).
   * @default 60
   */
  heartbeat?: number;
  /**
   * Socket options handed to amqplib (TLS `ca`, `cert`, `key` for `amqps://`).
   * @default {}
   */
  socketOptions?: Readonly<Record<string, unknown>>;
  /**
   * The name RabbitMQ shows for the connection.
   * @default 'celeriac rpc'
   */
  connectionName?: string;
  /**
   * With a cluster's URL list (a bare `rpc://` takes the broker's, `;`-joined), which node the
   * connection tries next when one fails or is lost: the list's order, or a random one each round.
   * @default 'round-robin'
   */
  failoverStrategy?: 'round-robin' | 'shuffle';
  /** @default silentLogger */
  logger?: Logger;
  /** @default systemClock */
  clock?: Clock;
}

/** `RpcResultBackendOptions` with defaults applied and validated. */
export interface CompiledRpcResultBackendOptions extends CompiledAmqpConnectOptions {
  /** The AMQP URL to connect to. */
  readonly amqpUrl: string;
  readonly replyQueue: string;
  readonly ownsReplyQueue: boolean;
  readonly resultExpiresMs: number;
  readonly replyQueueExpiresMs: number;
  readonly persistent: boolean;
  readonly serializer: SerializerName;
  readonly cacheLimit: number;
}

const { invalid, positive, strict } = optionChecks('RpcResultBackend');

const SPEC = {
  url: t.nonEmptyString,
  brokerUrl: t.string,
  replyQueue: t.nonEmptyString,
  resultExpiresMs: t.positive,
  replyQueueExpiresMs: t.positiveInteger,
  persistent: t.boolean,
  serializer: t.oneOf('json', 'msgpack'),
  cacheLimit: t.positiveInteger,
  ...AMQP_CONNECT_SPEC,
} as const satisfies { readonly [K in keyof Required<RpcResultBackendOptions>]: OptionType };

/** Keys renamed by the unit rule (milliseconds end in `Ms`). */
const RENAMED = { ...AMQP_CONNECT_RENAMED, resultExpires: 'resultExpiresMs' } as const;

/**
 * The AMQP URL an `rpc://` URL means: the broker's for a bare `rpc://` (as Celery), the same
 * server for `rpc://user:pass@host:port/vhost`, and an `amqp(s)://` URL itself.
 */
export function resolveAmqpUrl(url: string, brokerUrl: string | undefined): string {
  if (/^amqps?:\/\//i.test(url)) return url;
  const m = /^rpc:\/\/(.*)$/i.exec(url);
  if (!m) {
    throw new CeleriacError(
      ErrorCodes.UNSUPPORTED_URL,
      `RpcResultBackend needs an rpc://, amqp:// or amqps:// URL, got "${safeUrl(url)}"`,
      { details: { option: 'url' } },
    );
  }
  if (m[1] !== '' && m[1] !== '/') return `amqp://${m[1]}`;
  if (brokerUrl === undefined || brokerUrl === '') {
    throw invalid(
      'brokerUrl',
      'is required for a bare rpc:// URL: results travel over the broker, so pass its AMQP URL (or set CELERIAC_BROKER_URL)',
    );
  }
  if (!/^amqps?:\/\//i.test(brokerUrl)) {
    throw new CeleriacError(
      ErrorCodes.UNSUPPORTED_URL,
      `the rpc:// result backend needs an AMQP broker (amqp:// or amqps://), got "${safeUrl(brokerUrl)}"`,
      { details: { option: 'brokerUrl' } },
    );
  }
  return brokerUrl;
}

export function compileRpcResultBackendOptions(
  o: RpcResultBackendOptions,
): CompiledRpcResultBackendOptions {
  strict(o, SPEC, { renamed: RENAMED });
  if (typeof o.url !== 'string' || o.url === '') throw invalid('url', 'is required (e.g. rpc://)');
  const amqpUrl = resolveAmqpUrl(o.url, o.brokerUrl ?? process.env['CELERIAC_BROKER_URL']);
  if (
    o.replyQueue !== undefined &&
    (typeof o.replyQueue !== 'string' || o.replyQueue === '' || o.replyQueue.startsWith('amq.'))
  ) {
    throw invalid('replyQueue', 'must be a non-empty queue name not starting with "amq."');
  }
  if (o.serializer !== undefined && o.serializer !== 'json' && o.serializer !== 'msgpack') {
    throw invalid('serializer', `must be "json" or "msgpack", got ${JSON.stringify(o.serializer)}`);
  }
  return {
    amqpUrl,
    replyQueue: o.replyQueue ?? randomUUID(),
    ownsReplyQueue: o.replyQueue === undefined,
    resultExpiresMs: Math.ceil(
      positive('resultExpiresMs', o.resultExpiresMs, DEFAULT_RESULT_EXPIRES_MS),
    ),
    replyQueueExpiresMs: positive(
      'replyQueueExpiresMs',
      o.replyQueueExpiresMs,
      DEFAULT_RESULT_EXPIRES_MS,
      true,
    ),
    persistent: o.persistent ?? false,
    serializer: o.serializer ?? 'json',
    cacheLimit: positive('cacheLimit', o.cacheLimit, 10_000, true),
    ...compileAmqpConnectOptions(o, 'celeriac rpc'),
  };
}
