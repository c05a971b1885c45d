import { CeleriacError, ErrorCodes } from '@celeriac/core';
import { REDIS_SCHEMES, redactUrl } from '@celeriac/core/internal';
import { MemoryScheduleStore } from './memory-schedule-store.js';
import type * as RedisStoreModule from '../redis/index.js';
import type * as SqliteStoreModule from '../sqlite/index.js';
import type { ScheduleStore } from './schedule-store.js';

/** Options of {@link createScheduleStore}. */
export interface CreateScheduleStoreOptions {
  /** The store's namespace (Redis key prefix or SQLite row namespace, part of run task ids). @default 'default' */
  namespace?: string;
}

/**
 * The schedule store a URL names: `memory://` (this process only), `redis://` / `rediss://`
 * or Redis Sentinel's `sentinel://` / `sentinels://`
 * (loads `@celeriac/beat/redis` and ioredis only then) or `sqlite://./file.db` (loads
 * `@celeriac/beat/sqlite` and better-sqlite3 only then). Throws `CELERIAC_ERR_UNSUPPORTED_URL`
 * for another scheme and `CELERIAC_ERR_MISSING_DRIVER` when the driver is not installed.
 */
export async function createScheduleStore(
  url: string,
  options: CreateScheduleStoreOptions = {},
): Promise<ScheduleStore> {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'memory') return new MemoryScheduleStore(options);
  if (scheme !== undefined && REDIS_SCHEMES.includes(scheme)) {
    let mod: typeof RedisStoreModule;
    try {
      mod = await import('../redis/index.js');
    } catch (err) {
      throw new CeleriacError(
        ErrorCodes.MISSING_DRIVER,
        `the beat store at ${redactUrl(url)} needs the ioredis package: npm install ioredis`,
        {
          cause: err,
          details: { driver: 'ioredis' },
        },
      );
    }
    return new mod.RedisScheduleStore({ url, ...options });
  }
  if (scheme === 'sqlite') {
    // better-sqlite3 itself is loaded when the store opens its file, which reports a missing driver.
    const mod: typeof SqliteStoreModule = await import('../sqlite/index.js');
    return new mod.SqliteScheduleStore({ url, ...options });
  }
  throw new CeleriacError(
    ErrorCodes.UNSUPPORTED_URL,
    `beat store URL "${redactUrl(url)}": use memory://, redis:// (rediss://, sentinel://) or sqlite://`,
    {
      details: { scheme: scheme ?? null },
    },
  );
}
