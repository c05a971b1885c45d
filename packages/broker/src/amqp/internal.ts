/**
 * `@celeriac/broker/amqp/internal`: the AMQP plumbing the other Celeriac packages share with
 * the broker (the rpc:// result backend's connection, errors and option checks, and the
 * delivery's fused reply-and-ack). Not public API: it may change in any release, without
 * notice. Importing it loads amqplib.
 */
export { AmqpConnection } from './connection.js';
export type { AmqpConnectionOptions, AmqpConnectionState } from './connection.js';
export {
  AMQP_CONNECT_RENAMED,
  AMQP_CONNECT_SPEC,
  compileAmqpConnectOptions,
} from './connect-options.js';
export type { AmqpConnectOptions, CompiledAmqpConnectOptions } from './connect-options.js';
export { backendUnavailable, safeUrl } from './errors.js';
export type { AmqpRole } from './errors.js';
export { isAmqpFusedAck } from './fused-ack.js';
export type { AmqpFusedAck, AmqpReply } from './fused-ack.js';
