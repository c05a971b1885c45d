export {
  EVENT_EXCHANGE,
  EVENT_EXCHANGE_ROUTE,
  EventSender,
  defaultEventHostname,
  jsonText,
  utcOffsetHours,
} from './event.js';
export type { CeleryEvent, CeleryEventType, EventSenderOptions } from './event.js';
export { receiveEvents } from './receive.js';
export type { EventReceiver, EventSource, ReceiveEventsOptions } from './receive.js';
