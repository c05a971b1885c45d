import {
  CeleriacError,
  ErrorCodes,
  serializerForContentType,
  type Broker,
  type BrokerMessage,
  type Logger,
} from '@celeriac/core';
import { EVENT_EXCHANGE, EVENT_EXCHANGE_ROUTE, type CeleryEvent } from './event.js';

/** An open subscription to Celery's events. */
export interface EventReceiver {
  /** Stops listening. Idempotent. */
  close(): Promise<void>;
}

export interface ReceiveEventsOptions {
  /**
   * Binding key on `celeryev`, as Celery's `Receiver(routing_key=)`: `#` for every event,
   * `task.#` for task events only, `worker.#` for worker events. @default '#'
   */
  routingKey?: string;
}

/** What `receiveEvents` needs of an app: its broker and its logger. */
export interface EventSource {
  broker(): Promise<Broker>;
  readonly logger: Logger;
}

/**
 * Listens to Celery's events (`celeryev`), from Celeriac and Python Celery workers and
 * clients alike, as Celery's `app.events.Receiver` does: each event is decoded by its content
 * type (JSON or msgpack), and a list (what a worker's event loop buffers into `task.multi`)
 * is handed over one event at a time, in order. Events are live only: nothing sent before
 * the receiver opened is replayed.
 *
 * Needs a Redis or RabbitMQ broker; the memory and SQLite brokers have no events and reject
 * with `CELERIAC_ERR_INVALID_OPTION`.
 *
 * @example
 * ```ts
 * const receiver = await receiveEvents(app, (event) => {
 *   if (event.type === 'task-succeeded') console.log(event.uuid, event.runtime);
 * });
 * // ...
 * await receiver.close();
 * ```
 */
export async function receiveEvents(
  app: EventSource,
  onEvent: (event: CeleryEvent) => void,
  options: ReceiveEventsOptions = {},
): Promise<EventReceiver> {
  const broker = await app.broker();
  const control = broker.control;
  if (!control) {
    throw new CeleriacError(
      ErrorCodes.INVALID_OPTION,
      `events need a Redis or RabbitMQ broker; the ${broker.kind} broker has none`,
      {
        details: { option: 'broker', value: broker.kind, expected: 'a redis:// or amqp:// broker' },
      },
    );
  }
  const logger = app.logger;
  const deliver = (message: BrokerMessage): void => {
    let body: unknown;
    try {
      body = serializerForContentType(message.contentType).decode(message.body);
    } catch (err) {
      logger.warn({ err }, 'ignoring an event that cannot be decoded');
      return;
    }
    for (const event of Array.isArray(body) ? body : [body]) {
      if (!isEvent(event)) {
        logger.debug({ event }, 'ignoring a celeryev message that is not an event');
        continue;
      }
      try {
        onEvent(event);
      } catch (err) {
        logger.error({ err, type: event.type }, 'an event handler threw');
      }
    }
  };
  return control.listen(EVENT_EXCHANGE, deliver, {
    ...EVENT_EXCHANGE_ROUTE,
    routingKey: options.routingKey ?? '#',
  });
}

function isEvent(value: unknown): value is CeleryEvent {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Record<string, unknown>)['type'] === 'string'
  );
}
