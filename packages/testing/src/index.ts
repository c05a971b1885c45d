/**
 * `@celeriac/testing` (private): real servers for tests and the conformance suites every
 * `Broker` and `ResultBackend` implementation runs.
 */
import type {} from 'vitest';

// Types `inject('redisUrl')` (provided by ./global-setup) in every test that imports this package.
declare module 'vitest' {
  export interface ProvidedContext {
    /** A Redis for this test run: `REDIS_URL`, or a redis-server started for the run. */
    redisUrl: string;
  }
}
export { freePort } from './servers/free-port.js';
export { startRedisServer } from './servers/redis-server.js';
export type { RedisServerHandle, RedisServerOptions } from './servers/redis-server.js';
export { findPostgresBin, startPostgresServer } from './servers/postgres-server.js';
export type { PostgresServerHandle, PostgresServerOptions } from './servers/postgres-server.js';
export { startRedisSentinel } from './servers/redis-sentinel.js';
export type {
  RedisNodeHandle,
  RedisSentinelHandle,
  RedisSentinelOptions,
} from './servers/redis-sentinel.js';
export { startRedisCluster } from './servers/redis-cluster.js';
export type {
  RedisClusterHandle,
  RedisClusterNode,
  RedisClusterOptions,
} from './servers/redis-cluster.js';
export { respCommand, respInfo } from './servers/resp.js';
export type { RespValue } from './servers/resp.js';
export { rabbitMqForTests, startRabbitMqServer } from './servers/rabbitmq-server.js';
export { startRabbitMqCluster } from './servers/rabbitmq-cluster.js';
export type { RabbitMqClusterHandle, RabbitMqClusterOptions } from './servers/rabbitmq-cluster.js';
export type {
  RabbitMqForTests,
  RabbitMqServerHandle,
  RabbitMqServerOptions,
} from './servers/rabbitmq-server.js';
export { uniqueName } from './unique.js';
export { brokerConformance } from './conformance/broker-conformance.js';
export type { BrokerConformanceOptions, BrokerFixture } from './conformance/broker-conformance.js';
export { resultBackendConformance } from './conformance/result-backend-conformance.js';
export type {
  ResultBackendConformanceOptions,
  ResultBackendFixture,
} from './conformance/result-backend-conformance.js';
export {
  PYTHON,
  PYTHON_DIR,
  requirePythonCelery,
  runPythonScript,
  startCeleryWorker,
} from './servers/python-celery.js';
export type { PythonEnv, CeleryWorkerHandle } from './servers/python-celery.js';
export { capturePythonEvents } from './servers/python-events.js';
export type { PythonEventCapture, PythonSeenEvent } from './servers/python-events.js';
export { coordinationConformance } from './conformance/coordination-conformance.js';
export type { CoordinationFixture } from './conformance/coordination-conformance.js';
export { expectInvalidOption, expectOptionError, rejectionOf, thrownBy } from './option-errors.js';
