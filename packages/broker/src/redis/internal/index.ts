/**
 * `@celeriac/broker/redis/internal`: NOT PUBLIC API, and it may change in any release. The Redis
 * plumbing that `@celeriac/broker` (broker, coordination), `@celeriac/result-backend` and
 * `@celeriac/beat` share, so each is written once: the client factory, the translation of
 * ioredis failures, the EVALSHA runner, and the fused store-and-ack handle of a Redis delivery.
 * Importing it loads ioredis.
 */
export { openRedisClient } from './redis-client.js';
export type { OpenRedisClientOptions } from './redis-client.js';
export { DEFAULT_SENTINEL_PORT, parseRedisUrl, sentinelTarget } from './redis-url.js';
export type { RedisUrlSettings } from './redis-url.js';
export {
  CLUSTER_SCHEMES,
  clusterTarget,
  isClusterUrl,
  parseClusterUrl,
} from './redis-cluster-url.js';
export type { RedisClusterUrl } from './redis-cluster-url.js';
export { clusterClientTarget, isClusterClient } from './redis-cluster-client.js';
export { isConnectionError, redisUnavailable, toRedisError } from './redis-errors.js';
export type { RedisFailure, RedisRole } from './redis-errors.js';
export { redisScript, runScript, runScriptReplicated } from './run-script.js';
export type { RedisScript, WaitOptions } from './run-script.js';
export { compileWaitOptions, DEFAULT_WAIT_TIMEOUT_MS } from './wait-options.js';
export { TurnBatch, slices } from './turn-batch.js';
export { isRedisFusedAck } from './redis-fused-ack.js';
export type { RedisFusedAck } from './redis-fused-ack.js';
