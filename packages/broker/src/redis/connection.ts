import type { Redis } from 'ioredis';
import {
  clusterClientTarget,
  isClusterClient,
  openRedisClient,
  sentinelTarget,
} from './internal/index.js';

/**
 * Identity of a Redis server and database, `redis://host:port/db` (or, through Sentinel,
 * `sentinel://<sentinels>/<master>/<db>`), as `RedisFusedAck.target` gives it. A result backend compares it with its own client's to decide whether it may run
 * a delivery's ack commands in its own round trip.
 */
export function redisTarget(client: Redis): string {
  if (isClusterClient(client)) return clusterClientTarget(client);
  const o = client.options;
  if (o.sentinels && o.name) return sentinelTarget(o.name, o.sentinels, o.db ?? 0);
  const host = o.host ?? 'localhost';
  const where = o.path ? o.path : `${host.includes(':') ? `[${host}]` : host}:${o.port ?? 6379}`;
  return `redis://${where}/${o.db ?? 0}`;
}

/**
 * A dedicated connection for blocking commands, with the same server, credentials and TLS as
 * `base`. A blocking command waits through any number of reconnections rather than failing.
 */
export function openBlockingClient(base: Redis): Redis {
  return openRedisClient(base, {
    connectionName: 'celeriac-broker-blocking',
    autoPipelining: false,
    overrides: { maxRetriesPerRequest: null, enableOfflineQueue: true },
  });
}
