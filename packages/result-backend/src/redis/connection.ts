import { CeleriacError, ErrorCodes } from '@celeriac/core';
import { redactUrl, urlScheme } from '@celeriac/core/internal';
import {
  clusterTarget,
  parseRedisUrl as readRedisUrl,
  sentinelTarget,
} from '@celeriac/broker/redis/internal';
import type { RedisOptions } from 'ioredis';

/**
 * Which server a URL or client points at, to tell whether a delivery's fused ack lives on the
 * backend's own server and database. (Clients, redaction and error translation are shared with
 * the broker: `@celeriac/broker/redis/internal`, `redactUrl` in core.)
 */

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1']);

/** Where a Redis connection points, as far as deciding "same server and database" goes. */
export interface RedisEndpoint {
  host: string;
  port: number;
  db: number;
}

/**
 * The identity of a Redis server and database, `redis://<host>:<port>/<db>`, in the form
 * `RedisFusedAck.target` uses. Loopback names collapse into one (`localhost`, `127.0.0.1`,
 * `::1` reach the same local server); the scheme, credentials and options do not count.
 */
export function endpointTarget(e: RedisEndpoint): string {
  const raw = e.host.toLowerCase().replace(/^\[|\]$/g, '');
  const host = raw === '' || LOOPBACK.has(raw) ? 'localhost' : raw;
  return `redis://${host.includes(':') ? `[${host}]` : host}:${e.port}/${e.db}`;
}

/** Parses `redis://` / `rediss://` URLs the way ioredis does (db from the path or `?db=`). */
export function parseRedisUrl(url: string): RedisEndpoint {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err) {
    throw new CeleriacError(
      ErrorCodes.INVALID_OPTION,
      `result backend URL "${redactUrl(url)}" is not a URL`,
      { cause: err, details: { option: 'url', value: redactUrl(url), url: redactUrl(url) } },
    );
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new CeleriacError(
      ErrorCodes.UNSUPPORTED_URL,
      `RedisResultBackend needs a redis:// or rediss:// URL, got "${redactUrl(url)}"`,
      { details: { url: redactUrl(url) } },
    );
  }
  const dbText =
    parsed.pathname.length > 1 ? parsed.pathname.slice(1) : parsed.searchParams.get('db');
  const db = dbText === null || dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0) {
    throw new CeleriacError(
      ErrorCodes.INVALID_OPTION,
      `result backend URL "${redactUrl(url)}" names database "${dbText ?? ''}": use a number, as in redis://host:6379/0`,
      {
        details: {
          option: 'url',
          value: redactUrl(url),
          expected: 'a database number, as in redis://host:6379/0',
          url: redactUrl(url),
        },
      },
    );
  }
  return {
    host: parsed.hostname || 'localhost',
    port: parsed.port ? Number(parsed.port) : 6379,
    db,
  };
}

/**
 * `RedisFusedAck.target` of the backend a URL opens: `redis://host:port/db`, or for Sentinel
 * the master's name with its sentinels (`sentinelTarget`), as the broker gives it.
 */
export function urlTarget(url: string, redisOptions: RedisOptions): string {
  const scheme = urlScheme(url);
  if (scheme === 'redis+cluster' || scheme === 'rediss+cluster') {
    return clusterTarget(readRedisUrl(url, redisOptions).cluster!.nodes);
  }
  if (scheme !== 'sentinel' && scheme !== 'sentinels') return endpointTarget(parseRedisUrl(url));
  const { options } = readRedisUrl(url, redisOptions);
  return sentinelTarget(options.name!, options.sentinels!, options.db ?? 0);
}

/** `RedisFusedAck.target` normalized for comparison; undefined when it is not a Redis URL. */
export function normalizeTarget(target: string): string | undefined {
  // A Sentinel target is built normalized (`sentinelTarget`), by the broker as by the backend.
  if (target.startsWith('sentinel://') || target.startsWith('redis+cluster://')) return target;
  try {
    return endpointTarget(parseRedisUrl(target));
  } catch {
    return undefined;
  }
}
