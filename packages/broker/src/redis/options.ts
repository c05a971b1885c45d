import {
  CeleriacError,
  ErrorCodes,
  silentLogger,
  systemClock,
  type Clock,
  type Logger,
} from '@celeriac/core';
import {
  isRedisUrl,
  optionChecks,
  optionTypes as t,
  type OptionType,
  redactUrl,
} from '@celeriac/core/internal';
import type { Redis, RedisOptions } from 'ioredis';
import { compileWaitOptions, isClusterUrl, type WaitOptions } from './internal/index.js';

/**
 * Options of `RedisBroker`. `visibilityTimeout` is in seconds, as kombu's; the other durations
 * are in milliseconds and end in `Ms`. Unknown keys and wrong types are refused with
 * `CELERIAC_ERR_INVALID_OPTION`.
 */
export interface RedisBrokerOptions {
  /**
   * The broker URL, `redis://[[user]:password@]host[:port][/db]` or `rediss://…` for TLS, as
   * Celery reads it; or, through Redis Sentinel, kombu's
   * `sentinel://host1:26379;sentinel://host2:26379/0?master_name=mymaster` (`sentinels://`
   * for TLS; see docs/redis.md, "Sentinel").
   * @default undefined (required unless `client` is given)
   */
  url?: string;
  /**
   * An ioredis client to send commands on instead of opening one from `url`. The broker does
   * not close it. Consumers still open their own blocking connections, with
   * `client.duplicate()`, and close those. It must not use ioredis's `keyPrefix`: kombu's keys
   * are unprefixed.
   * @default undefined (a client is opened from `url`)
   */
  client?: Redis;
  /**
   * Extra ioredis options for the connections the broker opens, e.g. `tls`, `retryStrategy`
   * or `maxRetriesPerRequest` (how many reconnection attempts a command waits through before
   * it fails with `CELERIAC_ERR_BROKER_UNAVAILABLE`). With a Sentinel URL, `name` is the
   * master's name (Celery's `master_name`) and `sentinelPassword` the sentinels' password.
   * Auto-pipelining is on unless turned off here: concurrent publishes and acks then share writes.
   * @default {} (ioredis defaults: reconnect forever, a command waits through 20 attempts, ≈10 s)
   */
  redisOptions?: RedisOptions;
  /**
   * The exchange whose kombu binding set (`_kombu.binding.<exchange>`) `declareQueue` registers
   * a queue in, with the queue name as routing key. By default each queue is bound to an
   * exchange of its own name: what Celery writes for its default queue `celery` and for every
   * queue it creates on demand (`task_create_missing_queues`). Set it when the Python side
   * declares its queues on one shared exchange (`task_queues` with an explicit `Exchange`).
   * @default undefined (the queue's own name)
   */
  exchange?: string;
  /**
   * How long a message may stay in flight without its consumer refreshing it before another
   * consumer restores it to its queue: this bounds how long the messages of a crashed (SIGKILLed)
   * worker wait. Live Celeriac consumers refresh what they hold, so a long task is never
   * restored while its worker lives. Python Celery workers on the same Redis do not refresh,
   * and Celeriac restores their stale messages too, so keep this at least as long as their
   * `visibility_timeout` (kombu's default is one hour) and longer than their longest task.
   * In seconds, as kombu's `visibility_timeout`, so a value ported from Celery's
   * `broker_transport_options` means the same here.
   * @default 3600 (one hour, kombu's default)
   */
  visibilityTimeout?: number;
  /**
   * How often a live broker refreshes the `unacked_index` score of the messages it holds,
   * one ZADD per batch, in milliseconds.
   * @default min(60_000, visibilityTimeout × 1000 / 4)
   */
  refreshIntervalMs?: number;
  /**
   * How often a broker with active consumers looks for stale in-flight messages (one
   * ZRANGEBYSCORE; the restore itself runs under kombu's `unacked_mutex` lock), in milliseconds.
   * @default min(10_000, visibilityTimeout × 1000 / 2)
   */
  restoreIntervalMs?: number;
  /**
   * Most stale messages restored per pass.
   * @default 1000
   */
  restoreLimit?: number;
  /**
   * The longest an idle consumer blocks before it looks at its queues itself. Celeriac
   * publishers wake idle consumers at once; kombu publishers (Python Celery) do not, so this
   * bounds how long their messages wait for an idle Celeriac worker. An idle consumer costs two
   * commands per interval. In milliseconds.
   * @default 1000
   */
  idleCheckIntervalMs?: number;
  /**
   * Most dead letters kept per queue; older ones are dropped.
   * @default 10_000
   */
  deadLetterLimit?: number;
  /**
   * How long a queue's dead letters are kept after the last one arrived, in milliseconds.
   * @default 604_800_000 (seven days)
   */
  deadLetterTtlMs?: number;
  /**
   * Replicas that must confirm each publish before it resolves (Redis `WAIT`, sent with the
   * publish in the same write): a publish then survives a failover to one of them. 0 sends no
   * `WAIT`. Also `?wait_replicas=` in the URL. A publish that fewer replicas confirmed within
   * `waitTimeoutMs` rejects with `CELERIAC_ERR_NOT_REPLICATED` (it did reach the master).
   * @default 0
   */
  waitReplicas?: number;
  /**
   * How long a publish waits for `waitReplicas` replicas, in milliseconds. The broker's
   * command connection is blocked meanwhile. Also `?wait_timeout_ms=` in the URL.
   * @default 2000
   */
  waitTimeoutMs?: number;
  /**
   * Cluster layout only (a `redis+cluster://` URL or a cluster `client`): how many shards a
   * queue is spread over, each under a hash tag of its own (so on a slot, and a master, of its
   * own): a number for every queue, or per queue name (queues not named get 1). A publish
   * picks the queue's shards in turn; consumers take from every shard in turn. Order holds
   * within a shard only. Every client and worker of a queue must give it the same number. See
   * docs/redis.md, "Redis Cluster".
   * @default 1
   */
  shards?: number | Readonly<Record<string, number>>;
  /**
   * Where the broker logs reconnections, restores and dropped malformed messages.
   * @default silentLogger
   */
  logger?: Logger;
  /**
   * The time source for due times and in-flight timestamps.
   * @default systemClock
   */
  clock?: Clock;
}

/** `RedisBrokerOptions` with defaults applied and validated. */
export interface CompiledRedisBrokerOptions {
  readonly url: string | undefined;
  readonly client: Redis | undefined;
  readonly redisOptions: RedisOptions;
  readonly exchange: string | undefined;
  readonly visibilityTimeoutMs: number;
  readonly refreshIntervalMs: number;
  readonly restoreIntervalMs: number;
  readonly restoreLimit: number;
  readonly idleCheckIntervalMs: number;
  readonly deadLetterLimit: number;
  readonly deadLetterTtlMs: number;
  /** Replicas a publish waits for, and how long; undefined when it waits for none. */
  readonly wait: WaitOptions | undefined;
  /** The cluster layout (a `redis+cluster://` URL or a cluster client) rather than kombu's. */
  readonly cluster: boolean;
  /** How many shards a queue has (1 unless `shards` says otherwise; always 1 off a cluster). */
  readonly shards: (queue: string) => number;
  readonly logger: Logger;
  readonly clock: Clock;
}

const { invalid, positive, strict } = optionChecks('RedisBroker');

/** A visibility timeout beyond this is surely milliseconds passed where seconds are meant. */
const MAX_VISIBILITY_TIMEOUT_S = 30 * 24 * 3600;

const SPEC = {
  url: t.nonEmptyString,
  client: t.object,
  redisOptions: t.object,
  exchange: t.nonEmptyString,
  visibilityTimeout: t.range(0.001, MAX_VISIBILITY_TIMEOUT_S, false, 'seconds, as kombu'),
  refreshIntervalMs: t.positive,
  restoreIntervalMs: t.positive,
  restoreLimit: t.positiveInteger,
  idleCheckIntervalMs: t.positive,
  deadLetterLimit: t.positiveInteger,
  deadLetterTtlMs: t.positiveInteger,
  waitReplicas: t.nonNegativeInteger,
  waitTimeoutMs: t.positiveInteger,
  shards: t.anyOf(t.range(1, 1024, true), t.object),
  logger: t.object,
  clock: t.object,
} as const satisfies { readonly [K in keyof Required<RedisBrokerOptions>]: OptionType };

/** Keys renamed by the unit rule (milliseconds end in `Ms`). */
const RENAMED = {
  refreshInterval: 'refreshIntervalMs',
  restoreInterval: 'restoreIntervalMs',
  idleCheckInterval: 'idleCheckIntervalMs',
  deadLetterTtl: 'deadLetterTtlMs',
  visibilityTimeoutMs: 'visibilityTimeout',
} as const;

export function compileRedisBrokerOptions(o: RedisBrokerOptions): CompiledRedisBrokerOptions {
  strict(o, SPEC, { renamed: RENAMED });
  if (o.url === undefined && o.client === undefined) {
    throw invalid(
      'url',
      'is required (e.g. redis://localhost:6379/0), or pass an ioredis `client`',
    );
  }
  if (o.url !== undefined && !isRedisUrl(o.url)) {
    throw new CeleriacError(
      ErrorCodes.UNSUPPORTED_URL,
      `RedisBroker needs a redis://, rediss:// or sentinel:// URL, got "${redactUrl(o.url)}"`,
      { details: { option: 'url' } },
    );
  }
  if (o.client?.options.keyPrefix || o.redisOptions?.keyPrefix) {
    throw invalid(
      'client',
      'must not use ioredis keyPrefix: kombu (and so Celery) keys are unprefixed',
    );
  }
  const visibilityTimeoutMs = positive('visibilityTimeout', o.visibilityTimeout, 3600) * 1000;
  const cluster =
    (o.url !== undefined && isClusterUrl(o.url)) ||
    (o.client as unknown as { isCluster?: boolean } | undefined)?.isCluster === true;
  return {
    url: o.url,
    client: o.client,
    redisOptions: o.redisOptions ?? {},
    exchange: o.exchange,
    visibilityTimeoutMs,
    refreshIntervalMs: positive(
      'refreshIntervalMs',
      o.refreshIntervalMs,
      Math.min(60_000, visibilityTimeoutMs / 4),
    ),
    restoreIntervalMs: positive(
      'restoreIntervalMs',
      o.restoreIntervalMs,
      Math.min(10_000, visibilityTimeoutMs / 2),
    ),
    restoreLimit: positive('restoreLimit', o.restoreLimit, 1000, true),
    idleCheckIntervalMs: positive('idleCheckIntervalMs', o.idleCheckIntervalMs, 1000),
    deadLetterLimit: positive('deadLetterLimit', o.deadLetterLimit, 10_000, true),
    deadLetterTtlMs: positive('deadLetterTtlMs', o.deadLetterTtlMs, 7 * 24 * 3_600_000, true),
    wait: compileWaitOptions('RedisBroker', o, o.url, o.redisOptions),
    cluster,
    shards: compileShards(o.shards, cluster),
    logger: o.logger ?? silentLogger,
    clock: o.clock ?? systemClock,
  };
}

const MAX_SHARDS = 1024;

function compileShards(
  given: RedisBrokerOptions['shards'],
  cluster: boolean,
): (queue: string) => number {
  if (given === undefined) return () => 1;
  if (!cluster) {
    throw invalid(
      'shards',
      "applies to the cluster layout only: use a redis+cluster:// URL (kombu's layout, which Celery shares, has one list per queue)",
    );
  }
  const check = (n: unknown, where: string): number => {
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_SHARDS) {
      throw invalid(
        'shards',
        `${where} must be an integer from 1 to ${MAX_SHARDS}, got ${String(n)}`,
      );
    }
    return n;
  };
  if (typeof given === 'number') {
    const n = check(given, 'shards');
    return () => n;
  }
  if (typeof given !== 'object' || given === null || Array.isArray(given)) {
    throw invalid('shards', 'must be a number or an object of queue name → number');
  }
  const per = new Map<string, number>();
  for (const [queue, n] of Object.entries(given)) per.set(queue, check(n, `shards["${queue}"]`));
  return (queue) => per.get(queue) ?? 1;
}
