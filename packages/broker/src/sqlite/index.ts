/**
 * `@celeriac/broker/sqlite`: the embedded, durable broker for several processes on one host,
 * on one file (its coordination store is `@celeriac/broker/coordination/sqlite`). Opening one
 * loads better-sqlite3; nothing else in `@celeriac/broker` does. See docs/sqlite.md.
 *
 * @example
 * ```ts
 * import { SqliteBroker } from '@celeriac/broker/sqlite';
 * import { createTaskMessage, encodeTaskMessage } from '@celeriac/core';
 *
 * const broker = new SqliteBroker({ url: 'sqlite://./celeriac.db', visibilityTimeout: 30 });
 * await broker.consume({
 *   queues: ['celery'],
 *   prefetch: 10,
 *   onMessage: (delivery) => void delivery.ack(),
 * });
 * await broker.publish('celery', encodeTaskMessage(createTaskMessage({ name: 'tasks.add', args: [2, 3] })));
 * ```
 */
export { SqliteBroker } from './sqlite-broker.js';
export type { SqliteBrokerState } from './sqlite-broker.js';
export type { SqliteBrokerOptions } from './options.js';
