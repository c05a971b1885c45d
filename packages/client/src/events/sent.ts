import { hostname } from 'node:os';
import type { Broker, BrokerMessage, Logger } from '@celeriac/core';
import { EventSender } from './event.js';

/** The sender of one app's `task-sent` events, made on first use (none on brokers without events). */
const senders = new WeakMap<object, EventSender | null>();

/**
 * Celery's `task-sent` event for a task just published (celery/app/amqp.py's `sent_event`):
 * `uuid`, `root_id`, `parent_id`, `name`, `args`, `kwargs` (the reprs), `retries`, `eta`,
 * `expires`, `queue`, `exchange` and `routing_key`, from the client's own node name,
 * `gen<pid>@<host>` as Celery's default dispatcher names it. Resolves once it is published, so
 * the app's `close()` waits for it; never rejects (events are best effort, and a broker
 * without events sends none).
 */
export function sendTaskSentEvent(
  app: { readonly logger: Logger },
  broker: Broker,
  queue: string,
  wire: BrokerMessage,
): Promise<void> {
  let sender = senders.get(app);
  if (sender === undefined) {
    sender = broker.control
      ? new EventSender(broker.control, {
          hostname: `gen${process.pid}@${hostname()}`,
          logger: app.logger,
          bufferGroups: ['task'],
        })
      : null;
    senders.set(app, sender);
  }
  if (!sender) return Promise.resolve();
  const h = wire.headers;
  sender.send('task-sent', {
    uuid: h['id'],
    root_id: h['root_id'] ?? null,
    parent_id: h['parent_id'] ?? null,
    name: h['task'],
    args: h['argsrepr'] ?? null,
    kwargs: h['kwargsrepr'] ?? null,
    retries: h['retries'] ?? 0,
    eta: h['eta'] ?? null,
    expires: h['expires'] ?? null,
    queue,
    exchange: '',
    routing_key: queue,
  });
  return sender.drain();
}
