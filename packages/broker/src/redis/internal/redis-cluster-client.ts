import { Cluster, type ClusterOptions, type Redis, type RedisOptions } from 'ioredis';
import type { OpenRedisClientOptions } from './redis-client.js';
import { clusterTarget, type RedisClusterUrl } from './redis-cluster-url.js';

/**
 * An ioredis `Cluster` is handed around as a `Redis`: every command Celeriac sends on it is
 * one the cluster client has too, routed to the node owning its key's slot (a script by its
 * KEYS, which the cluster layout keeps in one slot per call). Code that needs the difference
 * asks {@link isClusterClient}.
 */
export function isClusterClient(client: Redis): boolean {
  return (client as unknown as { isCluster?: boolean }).isCluster === true;
}

/** ioredis options a node connection may not take (the cluster client sets them itself). */
const NODE_ONLY_OPTIONS = [
  'host',
  'port',
  'path',
  'sentinels',
  'retryStrategy',
  'enableOfflineQueue',
  'readOnly',
  'db',
  'lazyConnect',
  'enableAutoPipelining',
] as const;

/**
 * How long a command keeps retrying while a slot has no master (CLUSTERDOWN, TRYAGAIN, a node's
 * connection closed during a failover): ~`CLUSTER_RETRY_DELAY_MS × CLUSTER_MAX_REDIRECTIONS`.
 * A replica takes over about two `cluster-node-timeout`s after its master died.
 */
const CLUSTER_RETRY_DELAY_MS = 200;
const CLUSTER_MAX_REDIRECTIONS = 64;

/**
 * Opens an ioredis `Cluster` from a `redis+cluster://` URL's seed nodes (`user` ioredis options
 * apply to every node connection), or a duplicate of one (a subscriber beside a command client).
 */
export function openClusterClient(from: RedisClusterUrl | Redis, o: OpenRedisClientOptions): Redis {
  const lazyConnect = o.lazyConnect ?? true;
  const overrides: RedisOptions = o.overrides ?? {};
  const { enableOfflineQueue, ...nodeOverrides } = overrides;
  if (!('isCluster' in from)) {
    const url: RedisClusterUrl = from;
    const user: RedisOptions = { ...(o.redisOptions ?? {}) };
    for (const k of NODE_ONLY_OPTIONS) delete user[k];
    const connectionName = o.redisOptions?.connectionName ?? o.connectionName;
    const redisOptions: RedisOptions = {
      ...user,
      ...(url.username === undefined ? {} : { username: url.username }),
      ...(url.password === undefined ? {} : { password: url.password }),
      ...(url.tls ? { tls: user.tls ?? {} } : {}),
      ...(connectionName === undefined ? {} : { connectionName }),
      ...nodeOverrides,
    };
    const options: ClusterOptions = {
      lazyConnect,
      enableAutoPipelining: o.redisOptions?.enableAutoPipelining ?? o.autoPipelining ?? true,
      enableOfflineQueue: enableOfflineQueue ?? true,
      retryDelayOnFailover: CLUSTER_RETRY_DELAY_MS,
      retryDelayOnClusterDown: CLUSTER_RETRY_DELAY_MS,
      retryDelayOnTryAgain: CLUSTER_RETRY_DELAY_MS,
      maxRedirections: CLUSTER_MAX_REDIRECTIONS,
      redisOptions,
    };
    const cluster = new Cluster(
      url.nodes.map((n) => ({ host: n.host, port: n.port })),
      options,
    );
    targets.set(cluster, clusterTarget(url.nodes));
    return cluster as unknown as Redis;
  }
  const base = from as unknown as Cluster;
  const baseOptions = base.options;
  const copy = base.duplicate(undefined, {
    ...baseOptions,
    lazyConnect,
    ...(o.autoPipelining === undefined ? {} : { enableAutoPipelining: o.autoPipelining }),
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    redisOptions: {
      ...baseOptions.redisOptions,
      ...(o.connectionName === undefined ? {} : { connectionName: o.connectionName }),
      ...nodeOverrides,
    },
  });
  targets.set(copy, targets.get(base) ?? 'redis+cluster://');
  return copy as unknown as Redis;
}

const targets = new WeakMap<object, string>();

/** The identity of a cluster client's cluster, `redis+cluster://<seed nodes>` (`clusterTarget`). */
export function clusterClientTarget(client: Redis): string {
  return targets.get(client) ?? 'redis+cluster://';
}
