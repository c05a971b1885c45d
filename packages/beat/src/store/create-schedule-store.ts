import { CeleriacError, ErrorCodes } from '@celeriac/core';
import { REDIS_SCHEMES, redactUrl } from '@celeriac/core/internal';
import { MemoryScheduleStore } from './memory-schedule-store.js';
import type * as SqliteStoreModule from '../sqlite/index.js';
import type { ScheduleStore } from './schedule-store.js';

/** Options of {@link createScheduleStore}. */
export interface CreateScheduleStoreOptions {
  /** The store's namespace (Redis key prefix, SQLite or PostgreSQL row namespace; part of run task ids). @default 'default' */
  namespace?: string;
  /** The writer's name in the store's change notices (`EntryChange.origin`). @default `<hostname>:<pid>` */
  origin?: string;
}

/**
 * The schedule store a URL names: `memory://` (this process only), `redis://` / `rediss://`
 * or Redis Sentinel's `sentinel://` / `sentinels://` (loads `@celeriac/beat/redis` and ioredis
 * only then), `sqlite://./file.db` (loads `@celeriac/beat/sqlite` and better-sqlite3 only then)
 * or `postgresql://` / `postgres://` (loads `@celeriac/beat/postgres` and pg only then). Throws `CELERIAC_ERR_UNSUPPORTED_URL`
 * for another scheme and `CELERIAC_ERR_MISSING_DRIVER` when the driver is not installed.
 */
export async function createScheduleStore(
  url: string,
  options: CreateScheduleStoreOptions = {},
): Promise<ScheduleStore> {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'memory') return new MemoryScheduleStore(options);
  if (scheme !== undefined && REDIS_SCHEMES.includes(scheme)) {
    const mod = await withDriver(url, 'ioredis', () => import('../redis/index.js'));
    return new mod.RedisScheduleStore({ url, ...options });
  }
  if (scheme === 'sqlite') {
    // better-sqlite3 itself is loaded when the store opens its file, which reports a missing driver.
    const mod: typeof SqliteStoreModule = await import('../sqlite/index.js');
    return new mod.SqliteScheduleStore({ url, ...options });
  }
  if (scheme === 'postgresql' || scheme === 'postgres') {
    const mod = await withDriver(url, 'pg', () => import('../postgres/index.js'));
    return new mod.PostgresScheduleStore({ url, ...options });
  }
  throw new CeleriacError(
    ErrorCodes.UNSUPPORTED_URL,
    `beat store URL "${redactUrl(url)}": use memory://, redis:// (rediss://, sentinel://, redis+cluster://), sqlite:// or postgresql://`,
    {
      details: { scheme: scheme ?? null },
    },
  );
}

/** Loads a store's module, whose driver package is an optional peer: missing, it says how to install it. */
async function withDriver<M>(url: string, driver: string, load: () => Promise<M>): Promise<M> {
  try {
    return await load();
  } catch (err) {
    throw new CeleriacError(
      ErrorCodes.MISSING_DRIVER,
      `the beat store at ${redactUrl(url)} needs the ${driver} package: npm install ${driver}`,
      { cause: err, details: { driver } },
    );
  }
}
