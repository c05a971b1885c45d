import type { FusedAck } from '@celeriac/core';

/**
 * The Redis delivery's fused store-and-ack (`Delivery.fusedAck()`): the commands that ack the
 * delivery (kombu's HDEL + ZREM of its tag), for a result backend on the same server and
 * database (`target`) to run in its own round trip, after its write succeeded.
 */
export interface RedisFusedAck extends FusedAck {
  readonly transport: 'redis';
  /** `redis://host:port/db` of the broker's client. */
  readonly target: string;
  /** Redis commands as `[name, ...args]`. */
  readonly commands: readonly (readonly (string | number | Buffer)[])[];
  /** Marks the delivery settled once the commands ran; whoever ran them must call it. */
  settled(): void;
}

/** True when `ack` is the Redis transport's fused ack, with its commands. */
export function isRedisFusedAck(ack: FusedAck): ack is RedisFusedAck {
  const r = ack as Partial<RedisFusedAck>;
  return ack.transport === 'redis' && Array.isArray(r.commands) && typeof r.settled === 'function';
}
