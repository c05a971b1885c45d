import { CeleriacError, ErrorCodes, redactUrl } from '@celeriac/core';

/**
 * Connection helpers: which server a URL or client points at, how to show a URL without its
 * password, and how ioredis failures become Celeriac errors at the edge.
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
 * `FusableAck.target` uses. Loopback names collapse into one (`localhost`, `127.0.0.1`,
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
    throw new CeleriacError(ErrorCodes.INVALID_OPTION, `result backend URL "${url}" is not a URL`, {
      cause: err,
      details: { url },
    });
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
      { details: { url: redactUrl(url) } },
    );
  }
  return {
    host: parsed.hostname || 'localhost',
    port: parsed.port ? Number(parsed.port) : 6379,
    db,
  };
}

/** `FusableAck.target` normalized for comparison; undefined when it is not a Redis URL. */
export function normalizeTarget(target: string): string | undefined {
  try {
    return endpointTarget(parseRedisUrl(target));
  } catch {
    return undefined;
  }
}

const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

function isConnectionError(err: Error): boolean {
  const code = (err as { code?: unknown }).code;
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) ||
    /Connection is closed|Stream isn't writeable|connect ETIMEDOUT/i.test(err.message)
  );
}

/**
 * Translates an ioredis failure into `CELERIAC_ERR_BACKEND_UNAVAILABLE` naming the server and
 * what to check. Celeriac errors pass through unchanged.
 */
export function toBackendError(err: unknown, url: string, operation: string): Error {
  if (err instanceof CeleriacError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  const details = { url, operation };
  if (isConnectionError(e)) {
    return new CeleriacError(
      ErrorCodes.BACKEND_UNAVAILABLE,
      `cannot reach the Redis result backend at ${url} (${operation}: ${e.message}); check that redis-server is running there and that the URL's host, port, database and password are right`,
      { cause: err, details },
    );
  }
  return new CeleriacError(
    ErrorCodes.BACKEND_UNAVAILABLE,
    `the Redis result backend at ${url} refused ${operation}: ${e.message}`,
    { cause: err, details },
  );
}
