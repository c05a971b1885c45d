import { CeleriacError, ErrorCodes, redactUrl } from '@celeriac/core';
import { Redis, type RedisOptions } from 'ioredis';

/**
 * Identity of a Redis server and database, `redis://host:port/db`, as `FusableAck.target`
 * gives it. A result backend compares it with its own client's to decide whether it may run
 * a delivery's ack commands in its own round trip.
 */
export function redisTarget(client: Redis): string {
  const o = client.options;
  const host = o.host ?? 'localhost';
  const where = o.path ? o.path : `${host.includes(':') ? `[${host}]` : host}:${o.port ?? 6379}`;
  return `redis://${where}/${o.db ?? 0}`;
}

/** Opens a client from a URL. Lazy: nothing connects until the first command. */
export function openClient(url: string, options: RedisOptions): Redis {
  return new Redis(url, {
    ...options,
    lazyConnect: true,
    enableAutoPipelining: options.enableAutoPipelining ?? true,
  });
}

/**
 * A dedicated connection for blocking commands, with the same server, credentials and TLS as
 * `base`. A blocking command waits through any number of reconnections rather than failing.
 */
export function openBlockingClient(base: Redis): Redis {
  return base.duplicate({
    lazyConnect: true,
    enableAutoPipelining: false,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    connectionName: 'celeriac-broker-blocking',
  });
}

const CONNECTION_MESSAGES = [
  'Connection is closed',
  'max retries per request',
  "Stream isn't writeable",
  'connect ETIMEDOUT',
  'Socket closed unexpectedly',
];

/** True for errors that mean the server could not be reached, as opposed to a command's error. */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'MaxRetriesPerRequestError') return true;
  const code = (err as { code?: unknown }).code;
  if (
    typeof code === 'string' &&
    /^(ECONN|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|EPIPE|EAI_AGAIN)/.test(code)
  ) {
    return true;
  }
  const msg = err.message.toLowerCase();
  return CONNECTION_MESSAGES.some((m) => msg.includes(m.toLowerCase()));
}

/** `CELERIAC_ERR_BROKER_UNAVAILABLE` naming the URL that failed and what to check. */
export function brokerUnavailable(url: string, cause: unknown, lastError?: Error): CeleriacError {
  const reason =
    lastError && lastError !== cause
      ? `${(cause as Error).message ?? String(cause)}; last connection error: ${lastError.message}`
      : ((cause as Error | undefined)?.message ?? String(cause));
  return new CeleriacError(
    ErrorCodes.BROKER_UNAVAILABLE,
    `cannot reach the Redis broker at ${redactUrl(url)} (${reason}). ` +
      'Check that Redis is running and reachable from here, and that the broker URL ' +
      '(host, port, password, database number) is right.',
    { cause, details: { url: redactUrl(url) } },
  );
}
