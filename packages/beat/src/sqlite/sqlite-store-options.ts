import { optionChecks } from '@celeriac/core/internal';
import {
  defaultOrigin,
  DEFAULT_MAX_ENTRIES,
  DEFAULT_MAX_PENDING,
} from '../store/schedule-store.js';

/** Options of {@link SqliteScheduleStore}. */
export interface SqliteScheduleStoreOptions {
  /**
   * The database file, `sqlite://./celeriac.db` or `sqlite:///var/lib/celeriac.db`: usually
   * the broker's URL, so one file holds the queues, the results and the schedule. Created,
   * with its folder, when missing.
   */
  url: string;
  /**
   * Separates the schedules of several deployments in one file; also part of every run's
   * task id.
   * @default 'default'
   */
  namespace?: string;
  /** Live entries at most. @default 100000 */
  maxEntries?: number;
  /** Unconfirmed runs kept at most (the oldest are dropped). @default 100000 */
  maxPending?: number;
  /**
   * How long a write waits for another process's write lock before it fails, in
   * milliseconds.
   * @default 5000
   */
  busyTimeoutMs?: number;
  /** The writer's name in change notices (`EntryChange.origin`). @default `<hostname>:<pid>` */
  origin?: string;
  /**
   * How often a `watch` checks the file for other processes' commits when the OS reports
   * none (the fallback: file events usually report a commit at once), in milliseconds.
   * @default 50
   */
  watchIntervalMs?: number;
}

const KNOWN: readonly (keyof SqliteScheduleStoreOptions)[] = [
  'url',
  'namespace',
  'maxEntries',
  'maxPending',
  'busyTimeoutMs',
  'origin',
  'watchIntervalMs',
];

const { invalid, positive, known } = optionChecks('SqliteScheduleStore');

/** {@link SqliteScheduleStoreOptions} checked, with defaults applied. */
export interface CompiledSqliteStoreOptions {
  readonly url: string;
  readonly namespace: string;
  readonly maxEntries: number;
  readonly maxPending: number;
  readonly busyTimeoutMs: number;
  readonly origin: string;
  readonly watchIntervalMs: number;
}

/** Checks the options (unknown keys refused, naming the nearest one) and applies defaults. */
export function compileSqliteStoreOptions(
  options: SqliteScheduleStoreOptions,
): CompiledSqliteStoreOptions {
  if (typeof options !== 'object' || options === null)
    throw invalid('options', 'must be an object');
  known(options, KNOWN);
  if (typeof options.url !== 'string' || !/^sqlite:\/\//i.test(options.url)) {
    throw invalid(
      'url',
      `must be a sqlite:// URL such as sqlite://./celeriac.db, got ${JSON.stringify(options.url)}`,
    );
  }
  const namespace = options.namespace ?? 'default';
  if (typeof namespace !== 'string' || !/^[A-Za-z0-9_.:-]{1,100}$/.test(namespace)) {
    throw invalid(
      'namespace',
      `must be 1-100 characters of A-Z a-z 0-9 _ . : -, got ${JSON.stringify(namespace)}`,
    );
  }
  const origin = options.origin ?? defaultOrigin();
  if (typeof origin !== 'string' || origin === '')
    throw invalid('origin', 'must be a non-empty string');
  return {
    url: options.url,
    namespace,
    maxEntries: positive('maxEntries', options.maxEntries, DEFAULT_MAX_ENTRIES, true),
    maxPending: positive('maxPending', options.maxPending, DEFAULT_MAX_PENDING, true),
    busyTimeoutMs: positive('busyTimeoutMs', options.busyTimeoutMs, 5000, true),
    origin,
    watchIntervalMs: positive('watchIntervalMs', options.watchIntervalMs, 50, true),
  };
}
