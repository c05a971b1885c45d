import { silentLogger, systemClock, type Clock, type Logger } from '@celeriac/core';
import { optionChecks, DEFAULT_RESULT_EXPIRES_MS } from '@celeriac/core/internal';

/** Options of `SqliteResultBackend`. Durations are in milliseconds. */
export interface SqliteResultBackendOptions {
  /**
   * The database file, `sqlite://./celeriac.db` (relative to the working directory) or
   * `sqlite:///var/lib/celeriac.db`: usually the broker's URL, so one file holds the queues and
   * the results. Created, with its folder, when missing.
   */
  url: string;
  /**
   * How long a stored document lives unless `store()` says otherwise (Celery's
   * `result_expires`).
   * @default 86_400_000 (one day)
   */
  resultExpiresMs?: number;
  /**
   * How long a write waits for another process's write lock before it fails.
   * @default 5000
   */
  busyTimeoutMs?: number;
  /**
   * How often a backend with pending `waitFor` calls checks the file for other processes'
   * commits when the OS file watcher reports nothing (a safety net; inotify reports commits
   * at once).
   * @default 250
   */
  pollIntervalMs?: number;
  /**
   * Most expired documents one sweep deletes. A sweep runs with a store at most once a
   * minute (and again at once while it finds a full batch), so expiry never costs a long
   * write lock.
   * @default 1000
   */
  sweepLimit?: number;
  /**
   * A pino-shaped logger; the backend logs through a child bound to
   * `{ component: 'result-backend', backend: 'sqlite' }`.
   * @default silentLogger
   */
  logger?: Logger;
  /**
   * The source of "now" for expiry. Processes sharing the file should share the clock (the
   * system clock of one host).
   * @default systemClock
   */
  clock?: Clock;
}

/** `SqliteResultBackendOptions` with defaults applied and validated. */
export interface CompiledSqliteResultBackendOptions {
  readonly url: string;
  readonly resultExpiresMs: number;
  readonly busyTimeoutMs: number;
  readonly pollIntervalMs: number;
  readonly sweepLimit: number;
  readonly logger: Logger;
  readonly clock: Clock;
}

const OWNER = 'SqliteResultBackend';
const KNOWN: readonly (keyof SqliteResultBackendOptions)[] = [
  'url',
  'resultExpiresMs',
  'busyTimeoutMs',
  'pollIntervalMs',
  'sweepLimit',
  'logger',
  'clock',
];

const { invalid, positive, known } = optionChecks(OWNER);

export function compileSqliteResultBackendOptions(
  o: SqliteResultBackendOptions,
): CompiledSqliteResultBackendOptions {
  if (typeof o !== 'object' || o === null) throw invalid('options', 'must be an object');
  known(o, KNOWN);
  if (typeof o.url !== 'string' || o.url === '') {
    throw invalid('url', 'is required, e.g. sqlite://./celeriac.db');
  }
  if (o.logger !== undefined && typeof o.logger?.child !== 'function') {
    throw invalid('logger', 'must be a pino-shaped logger (with child())');
  }
  if (o.clock !== undefined && typeof o.clock?.now !== 'function') {
    throw invalid('clock', 'must be a Clock (with now())');
  }
  return {
    url: o.url,
    resultExpiresMs: Math.ceil(
      positive('resultExpiresMs', o.resultExpiresMs, DEFAULT_RESULT_EXPIRES_MS),
    ),
    busyTimeoutMs: positive('busyTimeoutMs', o.busyTimeoutMs, 5000, true),
    pollIntervalMs: positive('pollIntervalMs', o.pollIntervalMs, 250),
    sweepLimit: positive('sweepLimit', o.sweepLimit, 1000, true),
    logger: (o.logger ?? silentLogger).child({ component: 'result-backend', backend: 'sqlite' }),
    clock: o.clock ?? systemClock,
  };
}
