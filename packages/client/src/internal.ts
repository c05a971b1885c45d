/**
 * `@celeriac/client/internal`: the plumbing `@celeriac/worker` and the CLI share with the
 * client (running a task function in its context, compiling task options, the pidbox
 * broadcast).
 *
 * Not public API: anything here may change or disappear in any release, patch releases
 * included. Applications should import from `@celeriac/client`.
 *
 * @packageDocumentation
 */
export { callTaskFunction, runWithTaskContext, RECORD_CHILD } from './task-context.js';
export type { ChildRecorder } from './task-context.js';
export { compileTaskOptions } from './task-options.js';
export { broadcastCommand } from './inspect.js';
export {
  EventSender,
  EVENT_EXCHANGE,
  jsonText,
  EVENT_EXCHANGE_ROUTE,
  defaultEventHostname,
  utcOffsetHours,
} from './events/index.js';
export type { EventSenderOptions } from './events/index.js';
export { otel, errorType, messagingSystem, TRACER_NAME } from './tracing/otel.js';
