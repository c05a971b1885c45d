/**
 * `@celeriac/broker/amqp`: the `Broker` contract on RabbitMQ, in Celery's topology, so Python
 * Celery clients and workers share the queues. Importing this subpath loads amqplib; nothing
 * else in `@celeriac/broker` does.
 *
 * @example
 * ```ts
 * import { AmqpBroker } from '@celeriac/broker/amqp';
 * import { createTaskMessage, encodeTaskMessage } from '@celeriac/core';
 *
 * const broker = new AmqpBroker({ url: 'amqp://guest:guest@localhost:5672//', maxPriority: 10 });
 * await broker.publish('celery', encodeTaskMessage(createTaskMessage({ name: 'tasks.add', args: [2, 3] })));
 * await broker.publish('celery', encodeTaskMessage(createTaskMessage({ name: 'tasks.add', args: [4, 5] })), {
 *   deliverAt: Date.now() + 60_000, // waits in RabbitMQ's delay levels, not in a worker
 * });
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
export { AmqpBroker } from './amqp-broker.js';
export type { AmqpBrokerState } from './amqp-broker.js';
export type { AmqpBrokerOptions, AmqpQueueType } from './options.js';
export type { AmqpFailoverStrategy } from './failover.js';
export { deadLetterQueue, delayExit, delayLevel, DEAD_LETTER_EXCHANGE } from './topology.js';
