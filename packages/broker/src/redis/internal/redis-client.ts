import { Redis, type RedisOptions } from 'ioredis';
import { isClusterClient, openClusterClient } from './redis-cluster-client.js';
import { parseRedisUrl } from './redis-url.js';

/** How {@link openRedisClient} opens a connection, beyond the user's ioredis options. */
export interface OpenRedisClientOptions {
  /**
   * The user's ioredis options, for a connection opened from a URL. Values in the URL win over
   * these, as ioredis does. Ignored for a duplicate, which takes its base client's.
   * @default {}
   */
  redisOptions?: RedisOptions | undefined;
  /**
   * The name `CLIENT LIST` shows. From a URL, the user's own `connectionName` wins; a duplicate
   * always takes this one (it is a connection of the component's own, with its own role).
   * @default none (ioredis sets no name)
   */
  connectionName?: string;
  /**
   * Auto-pipelining: the commands sent in one turn of the event loop share one write. From a
   * URL, the user's own `enableAutoPipelining` wins; a duplicate always takes this one.
   * @default true from a URL; a duplicate keeps its base client's when unset
   */
  autoPipelining?: boolean;
  /**
   * Connect at the first command (true) or at once (false). Always applied: a component
   * decides when its connections connect.
   * @default true
   */
  lazyConnect?: boolean;
  /** ioredis options applied last, over the user's (a subscriber's `autoResubscribe`, say). @default {} */
  overrides?: RedisOptions;
}

/**
 * Opens an ioredis client: from a URL, `redis://`, `rediss://` or a Redis Sentinel
 * `sentinel://` / `sentinels://` list (`redis-url.ts`), a Redis Cluster's
 * `redis+cluster://` seed list (an ioredis `Cluster`, typed as `Redis`: see
 * `redis-cluster-client.ts`; the broker, the result backend, the beat
 * store and coordination each open theirs this way), or as a duplicate of `from`, with the same server,
 * credentials and TLS (a blocking or subscriber connection beside a command connection).
 * Lazy by default: nothing connects until the first command.
 */
export function openRedisClient(from: string | Redis, o: OpenRedisClientOptions = {}): Redis {
  const lazyConnect = o.lazyConnect ?? true;
  if (typeof from !== 'string' && isClusterClient(from)) return openClusterClient(from, o);
  if (typeof from !== 'string') {
    return releasingSentinels(
      from.duplicate({
        lazyConnect,
        ...(o.autoPipelining === undefined ? {} : { enableAutoPipelining: o.autoPipelining }),
        ...(o.connectionName === undefined ? {} : { connectionName: o.connectionName }),
        ...o.overrides,
      }),
    );
  }
  const user = o.redisOptions ?? {};
  const connectionName = user.connectionName ?? o.connectionName;
  const settings = parseRedisUrl(from, user);
  if (settings.cluster) return openClusterClient(settings.cluster, o);
  const options: RedisOptions = {
    ...user,
    ...settings.options,
    ...(connectionName === undefined ? {} : { connectionName }),
    enableAutoPipelining: user.enableAutoPipelining ?? o.autoPipelining ?? true,
    lazyConnect,
    ...o.overrides,
  };
  // A Sentinel URL is options only (the sentinels, the master's name); ioredis reads the rest.
  return releasingSentinels(
    settings.url === undefined ? new Redis(options) : new Redis(settings.url, options),
  );
}

/**
 * ioredis's failover detector (a subscription to `+switch-master` on the sentinels, opened
 * with each connection to the master) is closed by `disconnect()` but not by `quit()`, after
 * which its connections stayed open and kept reconnecting, holding the process alive (ioredis
 * 5.11). Ending the client ends them too, however it ended.
 */
function releasingSentinels(client: Redis): Redis {
  if (client.options.sentinels && client.options.failoverDetector) {
    client.on('end', () => client.disconnect());
  }
  return client;
}
