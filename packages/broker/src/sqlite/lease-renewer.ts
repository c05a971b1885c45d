import type BetterSqlite3 from 'better-sqlite3';
import type { Logger } from '@celeriac/core';
import { sqliteError, type SqliteDatabase, type SqliteLocation } from './connection.js';
import type { SqliteDelivery } from './sqlite-delivery.js';

/** What the renewer needs of the engine whose leases it renews. */
export interface RenewerHost {
  readonly db: SqliteDatabase;
  readonly location: SqliteLocation;
  readonly s: { readonly renew: BetterSqlite3.Statement<unknown[]> };
  readonly o: { readonly leaseMs: number; readonly logger: Logger };
  readonly held: ReadonlyMap<string, SqliteDelivery>;
  readonly state: string;
  readonly now: number;
}

/**
 * Renews the leases of what a broker holds every third of the lease, in one transaction. The
 * timer keeps the process alive while consumers are active (nothing else does: there is no
 * socket), and lets it exit once they are cancelled.
 */
export class LeaseRenewer {
  readonly #host: RenewerHost;
  readonly #renewTx: BetterSqlite3.Transaction<
    (deliveries: readonly SqliteDelivery[], until: number) => number
  >;
  #timer: NodeJS.Timeout | undefined;

  constructor(host: RenewerHost) {
    this.#host = host;
    this.#renewTx = host.db.transaction((deliveries: readonly SqliteDelivery[], until: number) => {
      let lost = 0;
      for (const d of deliveries) if (host.s.renew.run(until, d.id, d.owner).changes === 0) lost++;
      return lost;
    });
  }

  /** Starts renewing (once) and holds the process open: a consumer is active. */
  start(): void {
    this.#timer ??= setInterval(this.#renew, Math.max(1, Math.floor(this.#host.o.leaseMs / 3)));
    this.holdProcess(true);
  }

  /** Whether the renewal timer keeps the process alive: only while consumers are active. */
  holdProcess(hold: boolean): void {
    if (hold) this.#timer?.ref();
    else this.#timer?.unref();
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  readonly #renew = (): void => {
    const h = this.#host;
    if (h.state === 'closed' || h.held.size === 0) return;
    try {
      const lost = this.#renewTx.immediate([...h.held.values()], h.now + h.o.leaseMs);
      if (lost > 0) {
        h.o.logger.warn(
          { lost },
          `${lost} held message(s) lost their lease before it was renewed (the event loop was blocked longer than the visibilityTimeout?); they are delivered again`,
        );
      }
    } catch (err) {
      h.o.logger.warn(
        { err: sqliteError(h.location, 'renewing leases', err) },
        'SQLite broker lease renewal failed; retrying',
      );
    }
  };
}
