import type { FusedAck } from '@celeriac/core';
import type { SqliteDatabase } from './connection.js';

/**
 * The SQLite broker's fused store-and-ack (see `Delivery.fusedAck`): a result backend on the
 * same file (`target`, its absolute path) writes its result inside the transaction that acks
 * the delivery, so the result and the ack are one commit, both or neither.
 */
export interface SqliteFusedAck extends FusedAck {
  readonly transport: 'sqlite';
  /** The database file's absolute path. */
  readonly target: string;
  /**
   * Runs `write` on the broker's own connection inside the transaction that acks this
   * delivery (with every other write of the broker's turn). `write` throws only when the
   * database itself fails, which rolls back that whole transaction and rejects the promise.
   *
   * Undefined (and nothing done) when the delivery was settled in the meantime; the caller
   * then stores and acks on its own.
   */
  ackWithin(write: (db: SqliteDatabase) => void): Promise<void> | undefined;
}

/** True when `fused` is the SQLite broker's, so `ackWithin` may be called on it. */
export function isSqliteFusedAck(fused: FusedAck): fused is SqliteFusedAck {
  return (
    fused.transport === 'sqlite' &&
    typeof (fused as Partial<SqliteFusedAck>).ackWithin === 'function'
  );
}
