import { silentLogger, systemClock, type Clock, type Logger } from '@celeriac/core';
import { type OptionType, optionTypes as t } from '@celeriac/core/internal';
import type { AmqpFailoverStrategy } from './failover.js';

/** The options of an AMQP connection with their defaults applied. */
export interface CompiledAmqpConnectOptions {
  readonly heartbeat: number;
  readonly connectTimeoutMs: number;
  readonly reconnectInitialDelayMs: number;
  readonly reconnectMaxDelayMs: number;
  readonly socketOptions: Readonly<Record<string, unknown>>;
  readonly connectionName: string;
  readonly failoverStrategy: AmqpFailoverStrategy;
  readonly logger: Logger;
  readonly clock: Clock;
}

/**
 * The options of an AMQP connection as given, the same in `AmqpBrokerOptions` and
 * `RpcResultBackendOptions` (each documents them for its own use).
 */
export type AmqpConnectOptions = {
  -readonly [K in keyof CompiledAmqpConnectOptions]?: CompiledAmqpConnectOptions[K];
};

/** What each connection option takes, for an owner's `optionChecks().strict` spec. */
export const AMQP_CONNECT_SPEC = {
  heartbeat: t.nonNegativeInteger,
  connectTimeoutMs: t.positive,
  reconnectInitialDelayMs: t.positive,
  reconnectMaxDelayMs: t.positive,
  socketOptions: t.object,
  connectionName: t.string,
  failoverStrategy: t.oneOf('round-robin', 'shuffle'),
  logger: t.object,
  clock: t.object,
} as const satisfies { readonly [K in keyof Required<AmqpConnectOptions>]: OptionType };

/** Connection option keys renamed by the unit rule (milliseconds end in `Ms`). */
export const AMQP_CONNECT_RENAMED = {
  connectTimeout: 'connectTimeoutMs',
  reconnectInitialDelay: 'reconnectInitialDelayMs',
  reconnectMaxDelay: 'reconnectMaxDelayMs',
} as const;

/**
 * The connection options with their defaults (a 60 s heartbeat, 30 s to wait for a connection,
 * reconnection pauses from 100 ms doubling up to 5 s, a URL list taken in order). Their values must already have passed
 * {@link AMQP_CONNECT_SPEC}.
 */
export function compileAmqpConnectOptions(
  o: AmqpConnectOptions,
  defaultName: string,
): CompiledAmqpConnectOptions {
  return {
    heartbeat: o.heartbeat ?? 60,
    connectTimeoutMs: o.connectTimeoutMs ?? 30_000,
    reconnectInitialDelayMs: o.reconnectInitialDelayMs ?? 100,
    reconnectMaxDelayMs: o.reconnectMaxDelayMs ?? 5_000,
    socketOptions: { ...o.socketOptions },
    connectionName: o.connectionName ?? defaultName,
    failoverStrategy: o.failoverStrategy ?? 'round-robin',
    logger: o.logger ?? silentLogger,
    clock: o.clock ?? systemClock,
  };
}
