import type { DeadLetter, DeadLetterStore } from '@celeriac/core';
import type BetterSqlite3 from 'better-sqlite3';
import { asError, checkQueue, decodeMessage, priorityOf, type Meta } from './message-row.js';
import type { SqliteEngine } from './sqlite-engine.js';

/** A queue's dead letters, in their own table of the broker's file: capped and kept for a bounded time. */
export class SqliteDeadLetterStore implements DeadLetterStore {
  readonly #e: SqliteEngine;
  readonly #replayTx: BetterSqlite3.Transaction<
    (queue: string, ids: readonly number[] | undefined) => number
  >;

  constructor(engine: SqliteEngine) {
    this.#e = engine;
    const { s } = engine;
    this.#replayTx = engine.db.transaction((queue: string, ids: readonly number[] | undefined) => {
      const rows = (
        ids === undefined
          ? s.dlAll.all(queue)
          : ids.map((id) => s.dlOne.get(queue, id)).filter((r) => r !== undefined)
      ) as { id: number; meta: string; body: Buffer }[];
      const now = engine.now;
      for (const row of rows) {
        // Back of the queue, marked redelivered: it was delivered (and failed) before.
        const properties = (JSON.parse(row.meta) as Meta)[3] ?? {};
        engine.insert(
          {
            queue,
            priority: priorityOf(properties),
            at: undefined,
            meta: row.meta,
            body: row.body,
          },
          now,
          1,
        );
        s.dlDelete.run(row.id);
      }
      return rows.length;
    });
  }

  list(queue: string, options: { limit?: number } = {}): Promise<DeadLetter[]> {
    return this.#run('listing dead letters', queue, () => {
      const limit = options.limit ?? -1;
      const rows = this.#e.s.dlList.all(queue, limit) as {
        id: number;
        queue: string;
        dead_at: number;
        code: string;
        reason: string;
        meta: string;
        body: Buffer;
      }[];
      return rows.map((r) => ({
        id: String(r.id),
        queue: r.queue,
        reason: { code: r.code, message: r.reason },
        deadAt: r.dead_at,
        message: decodeMessage(r.meta, r.body),
      }));
    });
  }

  replay(queue: string, ids?: readonly string[]): Promise<number> {
    return this.#run('replaying dead letters', queue, () => {
      const numeric = ids?.map(Number).filter((n) => Number.isSafeInteger(n) && n > 0);
      const n = this.#replayTx.immediate(queue, numeric);
      if (n > 0) this.#e.wakeAll();
      return n;
    });
  }

  purge(queue: string): Promise<number> {
    return this.#run('purging dead letters', queue, () => this.#e.s.dlPurge.run(queue).changes);
  }

  count(queue: string): Promise<number> {
    return this.#run('counting dead letters', queue, () => this.#e.s.dlCount.get(queue) as number);
  }

  #run<T>(what: string, queue: string, fn: () => T): Promise<T> {
    try {
      checkQueue(queue);
      return Promise.resolve(
        this.#e.sync(what, () => {
          this.#e.s.dlExpire.run(this.#e.now - this.#e.o.deadLetterTtlMs);
          return fn();
        }),
      );
    } catch (err) {
      return Promise.reject(asError(err));
    }
  }
}
