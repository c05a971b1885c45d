import { silentLogger, systemClock, type Clock, type Logger } from '@celeriac/core';
import { optionChecks, optionTypes, type OptionType } from '@celeriac/core/internal';
import { parseSqliteUrl } from './connection.js';

/** Options of `SqliteBroker`. `visibilityTimeout` is in seconds, as kombu's; `…Ms` options in milliseconds. */
export interface SqliteBrokerOptions {
  /**
   * The database file, `sqlite://./celeriac.db` (relative to the working directory) or
   * `sqlite:///var/lib/celeriac.db` (absolute). Every process that opens the same file shares
   * its queues. The file and its folder are created when missing.
   * @default undefined (required)
   */
  url: string;
  /**
   * The lease of a delivered message, in seconds (kombu's `visibility_timeout` unit). A live
   * consumer renews the leases of what it holds every `visibilityTimeout / 3`; a message whose
   * lease ran out (its process died, or its event loop was blocked for longer than two thirds of
   * the lease) goes back to its queue, marked redelivered, and is delivered again. So this bounds
   * how long the messages of a SIGKILLed worker wait, and must be longer than the longest pause
   * of a worker's event loop, not than the longest task.
   * @default 30
   */
  visibilityTimeout?: number;
  /**
   * Most dead letters kept per queue; beyond it the oldest are dropped.
   * @default 10_000
   */
  deadLetterLimit?: number;
  /**
   * How long a dead letter is kept, in milliseconds.
   * @default 604_800_000 (seven days)
   */
  deadLetterTtlMs?: number;
  /**
   * How long a statement waits for another process's write lock before failing with
   * `CELERIAC_ERR_BROKER_UNAVAILABLE`, in milliseconds.
   * @default 5000
   */
  busyTimeoutMs?: number;
  /**
   * How often an idle consumer checks the file for other processes' commits when the OS file
   * watcher says nothing, in milliseconds (a safety net: on local file systems the watcher
   * reports a commit at once).
   * @default 250
   */
  pollIntervalMs?: number;
  /**
   * Where the broker logs recovered leases and errors it retries.
   * @default silentLogger
   */
  logger?: Logger;
  /**
   * The time source for due times and leases. Every process sharing a file must read the same
   * clock (they are on one host, so the system clock).
   * @default systemClock
   */
  clock?: Clock;
}

/** `SqliteBrokerOptions` with defaults applied and validated. */
export interface CompiledSqliteBrokerOptions {
  readonly url: string;
  /** Lease in milliseconds. */
  readonly leaseMs: number;
  readonly deadLetterLimit: number;
  readonly deadLetterTtlMs: number;
  readonly busyTimeoutMs: number;
  readonly pollIntervalMs: number;
  readonly logger: Logger;
  readonly clock: Clock;
}

const BROKER_KEYS: ReadonlySet<string> = new Set<keyof SqliteBrokerOptions>([
  'url',
  'visibilityTimeout',
  'deadLetterLimit',
  'deadLetterTtlMs',
  'busyTimeoutMs',
  'pollIntervalMs',
  'logger',
  'clock',
]);

/**
 * Throws `CELERIAC_ERR_INVALID_OPTION` for a key `known` does not hold, naming it and the
 * nearest known spelling (core's `optionChecks().strict`, the one check every driver uses).
 */
export function rejectUnknownKeys(
  owner: string,
  options: object,
  known: ReadonlySet<string>,
): void {
  const spec: Record<string, OptionType> = {};
  for (const key of known) spec[key] = optionTypes.any;
  optionChecks(owner).strict(options, spec, { renamed: RENAMED });
}

/** Keys of other drivers' spelling that SQLite names differently. */
const RENAMED = { deadLetterTtl: 'deadLetterTtlMs', visibilityTimeoutMs: 'visibilityTimeout' };

export function compileSqliteBrokerOptions(o: SqliteBrokerOptions): CompiledSqliteBrokerOptions {
  const { invalid, positive } = optionChecks('SqliteBroker');
  if (typeof o !== 'object' || o === null)
    throw invalid('options', 'must be an object with at least `url`');
  rejectUnknownKeys('SqliteBroker', o, BROKER_KEYS);
  if (typeof o.url !== 'string') throw invalid('url', 'is required, e.g. sqlite://./celeriac.db');
  parseSqliteUrl(o.url);
  if (o.logger !== undefined && typeof o.logger?.warn !== 'function')
    throw invalid('logger', 'must be a pino-shaped logger');
  if (o.clock !== undefined && typeof o.clock?.now !== 'function')
    throw invalid('clock', 'must have a now() method');
  return {
    url: o.url,
    leaseMs: positive('visibilityTimeout', o.visibilityTimeout, 30) * 1000,
    deadLetterLimit: positive('deadLetterLimit', o.deadLetterLimit, 10_000, true),
    deadLetterTtlMs: positive('deadLetterTtlMs', o.deadLetterTtlMs, 7 * 24 * 3_600_000),
    busyTimeoutMs: positive('busyTimeoutMs', o.busyTimeoutMs, 5000),
    pollIntervalMs: positive('pollIntervalMs', o.pollIntervalMs, 250),
    logger: o.logger ?? silentLogger,
    clock: o.clock ?? systemClock,
  };
}
