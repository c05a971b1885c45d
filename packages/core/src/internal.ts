/**
 * `@celeriac/core/internal`: the plumbing Celeriac's own packages share (driver loading and
 * URL handling, write coalescing, slot tables, option validation, name suggestions, the
 * wire details of Celery's messages, results and remote control).
 *
 * Not public API: anything here may change or disappear in any release, patch releases
 * included. Applications and third-party drivers should import from `@celeriac/core`.
 *
 * @packageDocumentation
 */
export { loadDriver, redactUrl, urlScheme, amqpTarget, isRedisUrl, REDIS_SCHEMES } from './urls.js';
export { coalesceWrites } from './coalesce-writes.js';
export { Slots } from './slots.js';
export { optionChecks, optionTypes, showValue } from './options.js';
export { closestName, editDistance } from './closest-name.js';
export { toIsoWithOffset, parseIsoDate } from './serializers.js';
export { messageEta, messageExpires, defaultOrigin } from './message.js';
export { exceptionToDocument, tracebackOf, isExceptionDocument } from './task-error.js';
export { pyRepr, excRepr } from './py-repr.js';
export { statePrecedence } from './states.js';
export { PIDBOX_EXCHANGE, PIDBOX_REPLY_EXCHANGE } from './broker.js';
export { MAX_REVOKED, DEFAULT_REVOKE_TTL_MS } from './coordination.js';
export { waitTimeoutError, DEFAULT_RESULT_EXPIRES_MS } from './result-backend.js';
export type { LoadDriverOptions } from './urls.js';
export type { OptionChecks, OptionSpec, OptionType, StrictOptions } from './options.js';
