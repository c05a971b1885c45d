/**
 * `@celeriac/broker/redis`: the `Broker` contract on Redis, in kombu's layout, so Python Celery
 * clients and workers share the queues. Importing this subpath loads ioredis; of the rest of
 * `@celeriac/broker` only the Redis coordination store (`./coordination/redis`) and the
 * internal plumbing it shares with the result backend and beat (`./redis/internal`) do.
 *
 * @example
 * ```ts
 * import { RedisBroker } from '@celeriac/broker/redis';
 * import { createTaskMessage, encodeTaskMessage } from '@celeriac/core';
 *
 * const broker = new RedisBroker({ url: 'redis://localhost:6379/0' });
 * await broker.declareQueue('celery');
 * await broker.publish('celery', encodeTaskMessage(createTaskMessage({ name: 'tasks.add', args: [2, 3] })));
 * const consumer = await broker.consume({
 *   queues: ['celery'],
 *   prefetch: 10,
 *   onMessage: (delivery) => {
 *     console.log(delivery.message.headers['task']); // tasks.add
 *     void delivery.ack();
 *   },
 * });
 * await consumer.cancel();
 * await broker.close();
 * ```
 */
export { RedisBroker } from './redis-broker.js';
export type { RedisBrokerState } from './redis-broker.js';
export type { RedisBrokerOptions } from './options.js';
export { redisTarget } from './connection.js';
