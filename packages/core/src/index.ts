/**
 * `@celeriac/core`: Celery protocol v2 messages, serializers, result documents, task states,
 * errors, and the `Broker`, `ResultBackend`, `Logger` and `Clock` contracts.
 *
 * @example
 * ```ts
 * import { createTaskMessage, encodeTaskMessage, decodeTaskMessage } from '@celeriac/core';
 *
 * const msg = createTaskMessage({ name: 'tasks.add', args: [2, 3] });
 * const wire = encodeTaskMessage(msg, 'json');
 * const back = decodeTaskMessage(wire);
 * console.log(back.headers.task, back.args); // tasks.add [ 2, 3 ]
 * ```
 */
export { CeleriacError, ErrorCodes, isCeleriacError } from './errors.js';
export type { CeleriacErrorOptions, ErrorCode } from './errors.js';
export {
  States,
  READY_STATES,
  EXCEPTION_STATES,
  PROPAGATE_STATES,
  UNREADY_STATES,
  isReadyState,
} from './states.js';
export type { BuiltinState, TaskState } from './states.js';
export { systemClock, ManualClock } from './clock.js';
export type { Clock } from './clock.js';
export { silentLogger } from './logger.js';
export type { Logger, LogFn } from './logger.js';
export {
  jsonSerializer,
  msgpackSerializer,
  serializerByName,
  serializerForContentType,
} from './serializers.js';
export type { Serializer, SerializerName } from './serializers.js';
export { isSignatureJSON, normalizeSignature } from './signature.js';
export type { SignatureJSON } from './signature.js';
export { createTaskMessage, encodeTaskMessage, decodeTaskMessage } from './message.js';
export type {
  BrokerMessage,
  MessageProperties,
  TaskHeaders,
  EmbedOptions,
  TaskMessage,
  CreateTaskMessageOptions,
} from './message.js';
export { TaskError } from './task-error.js';
export type { ExceptionDocument, TaskErrorOptions } from './task-error.js';
export { buildResultDocument } from './result.js';
export type { ResultDocument, BuildResultOptions } from './result.js';
export type {
  Broker,
  BrokerKind,
  PublishOptions,
  PublishItem,
  ConsumeOptions,
  Consumer,
  Delivery,
  FusedAck,
  ControlChannel,
  ControlListener,
  ExchangeRoute,
  DeadLetterReason,
  DeadLetter,
  DeadLetterStore,
} from './broker.js';
export type {
  ResultBackend,
  ResultBackendKind,
  StoreOptions,
  WaitOptions,
  ChordPart,
  ChordJoin,
} from './result-backend.js';
export type { Coordination, RevokeOptions, Revocation, RevocationWatch } from './coordination.js';
export type { OptionErrorDetails } from './options.js';
