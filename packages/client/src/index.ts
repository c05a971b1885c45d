/**
 * `@celeriac/client`: the `Celeriac` app, typed task definitions and `AsyncResult`.
 *
 * @example
 * ```ts
 * import { Celeriac } from '@celeriac/client';
 *
 * const app = new Celeriac({ broker: 'memory://' });
 * const add = app.task('tasks.add', (a: number, b: number) => a + b);
 * const result = add.delay(2, 3); // AsyncResult<number>
 * // a Worker (from @celeriac/worker) running on the same app stores 5; then:
 * console.log(await result.get({ timeout: 5 }));
 * ```
 */
export { Celeriac } from './app.js';
export type { RegisteredTask } from './app.js';
export type { SignatureSendExtra } from './task-message.js';
export { compileCeleriacOptions } from './celeriac-options.js';
export type { CeleriacOptions, CompiledCeleriacOptions } from './celeriac-options.js';
export { AsyncResult } from './async-result.js';
export { GroupResult } from './group-result.js';
export {
  Signature,
  Chain,
  Group,
  Chord,
  XMap,
  Chunks,
  signature,
  chain,
  group,
  chord,
  sendCanvas,
} from './canvas.js';
export type {
  SignatureOptions,
  CanvasApp,
  CanvasPart,
  CanvasResult,
  ResultOf,
  ValueOf,
  TaskCanvas,
} from './canvas.js';
export { resultFromTuple, resultAsTuple } from './result-tuple.js';
export { taskOutcome } from './run-outcomes.js';
export type { TaskOutcome } from './run-outcomes.js';
export type { ResultTuple } from './result-tuple.js';
export type { GetOptions, ResultSource, RevokeTaskOptions } from './async-result.js';
export { parseRateLimit } from './task.js';
export type {
  Task,
  TaskFunction,
  TaskOptions,
  ApplyOptions,
  UniqueOptions,
  RateLimit,
} from './task.js';
export { currentTask, activeTaskContext } from './task-context.js';
export type { AsyncContextMode } from './task-context.js';
export type { TaskContext } from './task-context.js';
export {
  Retry,
  NonRetryableError,
  MaxRetriesExceededError,
  SoftTimeLimitExceeded,
  TimeLimitExceeded,
} from './task-errors.js';
export type { RetryOptions } from './task-errors.js';
export { TaskError, CeleriacError, ErrorCodes, isCeleriacError, States } from '@celeriac/core';
export type { TaskState, Logger, Clock } from '@celeriac/core';

export { Inspect } from './inspect.js';
export type { InspectOptions, Replies } from './inspect.js';
export { receiveEvents } from './events/index.js';
export type {
  CeleryEvent,
  CeleryEventType,
  EventReceiver,
  EventSource,
  ReceiveEventsOptions,
} from './events/index.js';
