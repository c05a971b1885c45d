import { CeleriacError, ErrorCodes } from '@celeriac/core';
import { isRedisUrl, redactUrl } from '@celeriac/core/internal';
import { openRedisClient, runScript } from '@celeriac/broker/redis/internal';
import type { Redis, RedisOptions } from 'ioredis';
import { TOMBSTONE_TTL_MS } from '../store/schedule-store.js';
import type { BeatKeys } from './keys.js';
import { REMOVE_ALL_SCRIPT } from './scripts.js';

/** The connection of a `RedisScheduleStore`: the given client, or one opened from the URL. */
export function openStoreClient(options: {
  url?: string | undefined;
  client?: Redis | undefined;
  redisOptions?: RedisOptions | undefined;
}): { client: Redis; owned: boolean; url: string } {
  if (options.client) return { client: options.client, owned: false, url: 'the given client' };
  if (typeof options.url !== 'string' || !isRedisUrl(options.url)) {
    throw new CeleriacError(
      ErrorCodes.INVALID_OPTION,
      `RedisScheduleStore needs url "redis://…", "rediss://…", "sentinel://…" or "redis+cluster://…" (or client), got ${JSON.stringify(options.url)}`,
      { details: { field: 'url', option: 'url', value: options.url } },
    );
  }
  const client = openRedisClient(options.url, {
    redisOptions: options.redisOptions,
    connectionName: 'celeriac-beat',
  });
  return { client, owned: true, url: redactUrl(options.url) };
}

/** Entries `removeAll` takes per script call, so one call never holds Redis for long. */
const REMOVE_ALL_BATCH = 1000;

/** `ScheduleStore.removeAll` on Redis: the script, batch after batch, until the set is empty. */
export async function removeAllEntries(
  client: Redis,
  keys: BeatKeys,
  now: number,
  origin: string,
): Promise<number> {
  let removed = 0;
  for (;;) {
    const [taken, n] = await runScript(
      client,
      REMOVE_ALL_SCRIPT,
      [keys.names, keys.due],
      [keys.entryPrefix, TOMBSTONE_TTL_MS, now, REMOVE_ALL_BATCH, keys.changes, origin],
    );
    removed += n;
    if (taken < REMOVE_ALL_BATCH) return removed;
  }
}
