/**
 * `@celeriac/result-backend/rpc`: Celery's `rpc://` result backend on RabbitMQ: results come back
 * to the client's own reply queue (the tasks' `reply_to`) with `correlation_id` = the task id.
 * Importing this subpath loads amqplib; nothing else in `@celeriac/result-backend` does.
 *
 * @example
 * ```ts
 * import { RpcResultBackend } from '@celeriac/result-backend/rpc';
 * import { createTaskMessage, encodeTaskMessage } from '@celeriac/core';
 *
 * const backend = new RpcResultBackend({ url: 'rpc://', brokerUrl: 'amqp://guest:guest@localhost//' });
 * await backend.declareReplyQueue();
 * const task = createTaskMessage({ name: 'tasks.add', args: [2, 3], replyTo: backend.replyTo });
 * await broker.publish('celery', encodeTaskMessage(task)); // any AMQP broker, e.g. AmqpBroker
 * console.log((await backend.waitFor(task.headers.id, { timeoutMs: 10_000 })).result); // 5
 * await backend.close();
 * ```
 */
export { RpcResultBackend } from './rpc-result-backend.js';
export type { RpcResultBackendState, RpcStoreOptions } from './rpc-result-backend.js';
export { resolveAmqpUrl } from './options.js';
export type { RpcResultBackendOptions } from './options.js';
