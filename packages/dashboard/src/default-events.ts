import { receiveEvents } from '@celeriac/client';
import type { EventSubscriber } from './dashboard-options.js';

/** Celery events of the app's broker (Redis or RabbitMQ), through `receiveEvents`. */
export const defaultEventSubscriber: EventSubscriber = (app, onEvent) =>
  receiveEvents(app, onEvent);
