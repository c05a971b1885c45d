import type { Clock, Logger } from '@celeriac/core';
import { type OptionType, optionChecks, optionTypes as t } from '@celeriac/core/internal';
import {
  AMQP_CONNECT_RENAMED,
  AMQP_CONNECT_SPEC,
  compileAmqpConnectOptions,
  type CompiledAmqpConnectOptions,
} from './connect-options.js';
import { MAX_DELAY_LEVELS } from './delay.js';
import { parseAmqpUrls, type AmqpFailoverStrategy } from './failover.js';

/** RabbitMQ's queue types Celeriac declares. */
export type AmqpQueueType = 'classic' | 'quorum';

/**
 * Options of `AmqpBroker`. Durations in milliseconds end in `Ms`; `heartbeat` is in seconds,
 * as AMQP's. Unknown keys and wrong types are refused with `CELERIAC_ERR_INVALID_OPTION`.
 */
export interface AmqpBrokerOptions {
  /**
   * The broker URL, `amqp://user:password@host:port/vhost` or `amqps://…` for TLS, as Celery reads
   * it (`amqp://guest:guest@localhost:5672//` names the vhost `/`). Query parameters such as
   * `frameMax` or `heartbeat` go to amqplib.
   *
   * For a cluster, several URLs joined by `;` as Celery writes them
   * (`amqp://h1:5672//;amqp://h2:5672//`), or an array of URLs: the broker connects to one and,
   * when it cannot or loses the connection, to the next (see `failoverStrategy`). They must all
   * name the same virtual host.
   */
  url: string | readonly string[];
  /**
   * The direct, durable exchange `declareQueue` binds each queue to, with the queue name as
   * routing key. Tasks are published to the default exchange, so this binding only matters to
   * whoever publishes through the exchange. By default each queue is bound to an exchange of its
   * own name, as Celery does: its default queue `celery` to the exchange `celery`, and every
   * queue it creates on demand (`task_create_missing_queues`) to an exchange named after it.
   * @default undefined (the queue's own name)
   */
  exchange?: string;
  /**
   * The type of the queues `declareQueue` creates: `classic`, or `quorum` (replicated, and what
   * RabbitMQ 4 recommends). Every client of a queue must declare it alike: Celery 5.2 needs
   * `task_queues` with `queue_arguments={'x-queue-type': 'quorum'}`, and only Celery 5.5+ drops
   * the global QoS that quorum queues refuse.
   * @default 'classic'
   */
  queueType?: AmqpQueueType;
  /**
   * Declares classic queues with `x-max-priority`, so message priorities are honoured. On AMQP a
   * *higher* number is served first (9 before 0), the reverse of Redis, where kombu serves a lower
   * number first. Celery declares queues without it unless `task_queue_max_priority` is set: use
   * the same value on both sides, or whichever side declares second gets `PRECONDITION_FAILED`
   * (Celeriac then uses the queue as it is and logs a warning; Celery stops). Quorum queues take no
   * `x-max-priority` (RabbitMQ 4 serves their priorities in two levels by itself).
   * @default undefined (no priorities, as Celery's default)
   */
  maxPriority?: number;
  /**
   * Extra arguments for the queues `declareQueue` creates, e.g. `{ 'x-max-length': 100000,
   * 'x-overflow': 'reject-publish' }` (a publish to a full queue then rejects). The same rule as
   * for `maxPriority` applies: every client must declare the queue with the same arguments.
   * @default {}
   */
  queueArguments?: Readonly<Record<string, unknown>>;
  /**
   * How many binary delay levels a queue's delay topology has: level `n` holds a message for
   * 2^n ms, so the longest delay is 2^levels − 1 ms (32 levels: 49.7 days, RabbitMQ's largest
   * TTL). A longer delay runs through every level and the consumer sends it round again.
   * @default 32
   */
  delayLevels?: number;
  /**
   * The type of the delay level queues. `quorum` dead-letters at least once (a message is never
   * lost between two levels, even if the node stops) and needs RabbitMQ 3.10+; `classic`
   * dead-letters at most once.
   * @default 'quorum'
   */
  delayQueueType?: AmqpQueueType;
  /**
   * Divides every delay level's TTL, so a test can run a long countdown in little time (a
   * 20-minute countdown arrives after 1.2 s with 1000). For tests only: every process that uses a
   * queue must use the same value, or their declarations of its delay queues conflict.
   * @default 1
   */
  delaySpeedup?: number;
  /**
   * Most dead letters kept per queue (`x-max-length` of its dead-letter queue; the oldest are
   * dropped).
   * @default 10_000
   */
  deadLetterLimit?: number;
  /**
   * How long a dead letter is kept (`x-message-ttl` of the dead-letter queue), in milliseconds.
   * @default 604_800_000 (seven days)
   */
  deadLetterTtlMs?: number;
  /**
   * The AMQP heartbeat in seconds, unless the URL sets `heartbeat`: how soon a silent dead
   * connection is noticed. `0` takes the server's value (RabbitMQ's default is 60 s): AMQP
   * lets either side impose a heartbeat, so a client cannot turn it off alone.
   * @default 60
   */
  heartbeat?: number;
  /**
   * How long an operation (publish, declare, consume, count…) waits for a connection while
   * RabbitMQ is unreachable before it fails with `CELERIAC_ERR_BROKER_UNAVAILABLE`. The broker
   * itself keeps reconnecting, and consumers resume, however long the outage lasts. In
   * milliseconds.
   * @default 30_000
   */
  connectTimeoutMs?: number;
  /**
   * The first pause between reconnection attempts, in milliseconds; it doubles (with jitter)
   * up to `reconnectMaxDelayMs`.
   * @default 100
   */
  reconnectInitialDelayMs?: number;
  /**
   * The longest pause between reconnection attempts, in milliseconds.
   * @default 5_000
   */
  reconnectMaxDelayMs?: number;
  /**
   * Socket options handed to amqplib, e.g. TLS `ca`, `cert`, `key` for `amqps://`.
   * @default {}
   */
  socketOptions?: Readonly<Record<string, unknown>>;
  /**
   * A name RabbitMQ shows for the broker's two connections (`connection_name`), suffixed with
   * `publish` and `consume`; the consuming one also carries declarations and queries.
   * @default 'celeriac'
   */
  connectionName?: string;
  /**
   * How the next URL of a `url` list is picked when a connection fails or is lost (Celery's
   * `broker_failover_strategy`): `round-robin` in the list's order, so the first URL is the
   * preferred node; `shuffle` in a random order each round, which spreads many clients over the
   * nodes. Every URL of the list is tried once before the reconnection pause.
   * @default 'round-robin'
   */
  failoverStrategy?: AmqpFailoverStrategy;
  /**
   * Where the broker logs reconnections, blocked connections and queues it could not declare
   * with its own arguments.
   * @default silentLogger
   */
  logger?: Logger;
  /**
   * The time source for `deliverAt` and dead-letter timestamps.
   * @default systemClock
   */
  clock?: Clock;
}

/** `AmqpBrokerOptions` with defaults applied and validated. */
export interface CompiledAmqpBrokerOptions extends CompiledAmqpConnectOptions {
  /** The URL, or a cluster's URLs joined by `;`. */
  readonly url: string;
  /** Each URL of `url`. */
  readonly urls: readonly string[];
  readonly exchange: string | undefined;
  readonly queueType: AmqpQueueType;
  readonly maxPriority: number | undefined;
  readonly queueArguments: Readonly<Record<string, unknown>>;
  readonly delayLevels: number;
  readonly delayQueueType: AmqpQueueType;
  readonly delaySpeedup: number;
  readonly deadLetterLimit: number;
  readonly deadLetterTtlMs: number;
}

const { invalid, strict, wrongType } = optionChecks('AmqpBroker');

const queueTypeOption = t.oneOf('classic', 'quorum');

const SPEC = {
  url: t.anyOf(t.nonEmptyString, t.arrayOf(t.nonEmptyString)),
  exchange: t.nonEmptyString,
  queueType: queueTypeOption,
  maxPriority: t.range(1, 255, true),
  queueArguments: t.object,
  delayLevels: t.range(1, MAX_DELAY_LEVELS, true),
  delayQueueType: queueTypeOption,
  delaySpeedup: t.range(1, Number.MAX_SAFE_INTEGER),
  deadLetterLimit: t.positiveInteger,
  deadLetterTtlMs: t.range(1, 2 ** 32 - 1, true, 'milliseconds'),
  ...AMQP_CONNECT_SPEC,
} as const satisfies { readonly [K in keyof Required<AmqpBrokerOptions>]: OptionType };

/** Keys renamed by the unit rule (milliseconds end in `Ms`). */
const RENAMED = { deadLetterTtl: 'deadLetterTtlMs', ...AMQP_CONNECT_RENAMED } as const;

function number(
  name: string,
  value: number | undefined,
  fallback: number,
  o: { integer?: boolean; min?: number; max?: number } = {},
): number {
  if (value === undefined) return fallback;
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (o.min === undefined ? value > 0 : value >= o.min) &&
    (o.max === undefined || value <= o.max) &&
    (o.integer !== true || Number.isInteger(value));
  if (!ok) {
    const kind = o.integer ? 'an integer' : 'a number';
    const range =
      o.min === undefined
        ? '> 0'
        : o.max === undefined
          ? `≥ ${o.min}`
          : `from ${o.min} to ${o.max}`;
    throw wrongType(name, value, `${kind} ${range}`);
  }
  return value;
}

function queueType(
  name: string,
  value: AmqpQueueType | undefined,
  fallback: AmqpQueueType,
): AmqpQueueType {
  if (value === undefined) return fallback;
  if (value !== 'classic' && value !== 'quorum') {
    throw wrongType(name, value, '"classic" or "quorum"');
  }
  return value;
}

/**
 * `queueType`, or the `x-queue-type` of `queueArguments` (Celery's `queue_arguments` way of
 * saying it), which then also decides the dead-letter queues' type. The two must agree.
 */
function declaredType(o: AmqpBrokerOptions): AmqpQueueType {
  const fromArguments = (o.queueArguments as Record<string, unknown> | undefined)?.['x-queue-type'];
  if (fromArguments === undefined) return queueType('queueType', o.queueType, 'classic');
  if (fromArguments !== 'classic' && fromArguments !== 'quorum') {
    throw invalid(
      'queueArguments',
      `has x-queue-type ${JSON.stringify(fromArguments)}: Celeriac declares "classic" or "quorum" queues`,
    );
  }
  if (o.queueType !== undefined && o.queueType !== fromArguments) {
    throw invalid(
      'queueArguments',
      `has x-queue-type "${fromArguments}" but queueType is ${JSON.stringify(o.queueType)}: give one of them`,
    );
  }
  return fromArguments;
}

export function compileAmqpBrokerOptions(o: AmqpBrokerOptions): CompiledAmqpBrokerOptions {
  strict(o, SPEC, { renamed: RENAMED });
  if ((typeof o.url !== 'string' && !Array.isArray(o.url)) || o.url.length === 0) {
    throw invalid('url', 'is required (e.g. amqp://guest:guest@localhost:5672//)');
  }
  const urls = parseAmqpUrls(o.url, 'AmqpBroker');
  const type = declaredType(o);
  if (o.maxPriority !== undefined && type === 'quorum') {
    throw invalid(
      'maxPriority',
      'cannot be used with queueType "quorum": quorum queues take no x-max-priority (RabbitMQ 4 serves their priorities in two levels by itself)',
    );
  }
  if (o.exchange !== undefined && (typeof o.exchange !== 'string' || o.exchange === '')) {
    throw invalid('exchange', 'must be a non-empty exchange name');
  }
  return {
    url: urls.join(';'),
    urls,
    exchange: o.exchange,
    queueType: type,
    maxPriority:
      o.maxPriority === undefined
        ? undefined
        : number('maxPriority', o.maxPriority, 0, { integer: true, min: 1, max: 255 }),
    queueArguments: { ...o.queueArguments },
    delayLevels: number('delayLevels', o.delayLevels, MAX_DELAY_LEVELS, {
      integer: true,
      min: 1,
      max: MAX_DELAY_LEVELS,
    }),
    delayQueueType: queueType('delayQueueType', o.delayQueueType, 'quorum'),
    delaySpeedup: number('delaySpeedup', o.delaySpeedup, 1, { min: 1 }),
    deadLetterLimit: number('deadLetterLimit', o.deadLetterLimit, 10_000, {
      integer: true,
      min: 1,
    }),
    deadLetterTtlMs: number('deadLetterTtlMs', o.deadLetterTtlMs, 7 * 24 * 3_600_000, {
      integer: true,
      min: 1,
      max: 2 ** 32 - 1,
    }),
    ...compileAmqpConnectOptions(o, 'celeriac'),
  };
}
