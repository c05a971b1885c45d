import { CeleriacError, ErrorCodes } from '@celeriac/core';
import { loadDriver, redactUrl, urlScheme } from '@celeriac/core/internal';
import type { Clock, Coordination, Logger } from '@celeriac/core';
import { MemoryCoordination } from './memory-coordination.js';
import type { RedisCoordinationOptions } from './redis-coordination.js';
import type { SqliteCoordinationOptions } from './sqlite-coordination.js';

/**
 * Options for {@link createCoordination}: `clock` and `logger` for any URL, `redisOptions` for
 * `redis://` and `busyTimeoutMs` / `pollIntervalMs` for `sqlite://`. The driver the URL selects
 * refuses a key it does not know.
 */
export interface CreateCoordinationOptions
  extends Omit<RedisCoordinationOptions, 'url'>, Omit<SqliteCoordinationOptions, 'url'> {
  clock?: Clock;
  logger?: Logger;
}

type CoordinationConstructor = new (o: { url: string } & Record<string, unknown>) => Coordination;

const REDIS = { specifier: '@celeriac/broker/coordination/redis', exportName: 'RedisCoordination' };
const SQLITE = {
  specifier: '@celeriac/broker/coordination/sqlite',
  exportName: 'SqliteCoordination',
};

/**
 * The driver subpath of each shared scheme, loaded only for its scheme so that this module
 * never loads ioredis or better-sqlite3.
 */
const DRIVERS: Readonly<Record<string, { specifier: string; exportName: string }>> = {
  redis: REDIS,
  rediss: REDIS,
  sentinel: REDIS,
  sentinels: REDIS,
  'redis+cluster': REDIS,
  'rediss+cluster': REDIS,
  sqlite: SQLITE,
};

/**
 * Creates the coordination store (revocations, rate limits, uniqueness) a URL names:
 * `memory://[name]` (one process), `sqlite://./file.db` (shared by every process on the host)
 * or `redis://` / `rediss://` (shared by every worker).
 */
export async function createCoordination(
  url: string,
  options: CreateCoordinationOptions = {},
): Promise<Coordination> {
  const scheme = urlScheme(url);
  if (scheme === 'memory') {
    // Nothing to log in one process; `logger` is the one option every driver takes.
    const { logger: _logger, ...memory } = options;
    return new MemoryCoordination({ ...memory, url });
  }
  const driver = scheme === undefined ? undefined : DRIVERS[scheme];
  if (driver === undefined) {
    throw new CeleriacError(
      ErrorCodes.UNSUPPORTED_URL,
      `coordination URL "${redactUrl(url)}": revocation, rate limits and uniqueness need memory://, sqlite:// or redis://; pass the app option \`coordination\` a SQLite or Redis URL`,
      { details: { scheme: scheme ?? null } },
    );
  }
  // The specifier is a variable so neither TypeScript nor a bundler pulls a driver in unasked.
  const { specifier, exportName } = driver;
  const Ctor = await loadDriver<CoordinationConstructor>(() => import(specifier), {
    specifier,
    exportName,
    url,
    role: 'coordination',
  });
  return new Ctor({ ...options, url });
}
