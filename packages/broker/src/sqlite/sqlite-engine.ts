// The machinery under SqliteBroker: one connection, its statements, the write batch of each
// turn of the event loop, the consumers and what they hold.
import { randomUUID } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import { CeleriacError, ErrorCodes, isCeleriacError } from '@celeriac/core';
import { BROKER_SCHEMA, BROKER_SQL, STATE_DELAYED, STATE_READY } from './broker-schema.js';
import {
  openSqliteWith,
  prepareStatements,
  SqliteChangeFeed,
  sqliteError,
  type SqliteDatabase,
  type SqliteLocation,
} from './connection.js';
import { decodeMessage, type MessageRow, type NewRow } from './message-row.js';
import {
  compileSqliteBrokerOptions,
  type CompiledSqliteBrokerOptions,
  type SqliteBrokerOptions,
} from './options.js';
import type { ConsumerHost, SqliteConsumer } from './sqlite-consumer.js';
import { SqliteDelivery, type DeliveryHost } from './sqlite-delivery.js';
import { LeaseRenewer, type RenewerHost } from './lease-renewer.js';

/** Lifecycle of a SQLite broker. */
export type SqliteBrokerState = 'open' | 'closing' | 'closed';

/** How long a consumer waits before retrying after a failed fetch. */
const RETRY_AFTER_ERROR_MS = 1000;
/** setTimeout's largest delay; a longer wait is re-armed. */
const MAX_TIMER_MS = 2_147_483_647;

type Statements = { readonly [K in keyof typeof BROKER_SQL]: BetterSqlite3.Statement<unknown[]> };

/** A write queued for the next transaction; `run` returns true when it made messages ready. */
export interface PendingWrite {
  readonly run: () => boolean;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

/**
 * One connection's worth of broker: the statements, the write batch, the consumers and what
 * they hold. Every write made in one turn of the event loop (publishes, acks, requeues, dead
 * letters) and the fetches of every consumer with free prefetch slots share one
 * `BEGIN IMMEDIATE` transaction.
 */
export class SqliteEngine implements DeliveryHost, ConsumerHost, RenewerHost {
  readonly db: SqliteDatabase;
  readonly location: SqliteLocation;
  readonly o: CompiledSqliteBrokerOptions;
  readonly s: Statements;
  readonly feed: SqliteChangeFeed;
  readonly instance = randomUUID();
  state: SqliteBrokerState = 'open';
  readonly consumers = new Set<SqliteConsumer>();
  readonly held = new Map<string, SqliteDelivery>();
  #writes: PendingWrite[] = [];
  #tickScheduled = false;
  #batches = 0;
  #wakeTimer: NodeJS.Timeout | undefined;
  #wakeAt = Infinity;
  /** The earliest `deliverAt` inserted by the current transaction: a sleeping consumer's next wake. */
  #delayedUntil = Infinity;
  readonly #renewer: LeaseRenewer;
  #unsubscribe: (() => void) | undefined;
  readonly #tickTx: BetterSqlite3.Transaction<
    (writes: readonly PendingWrite[], hungry: readonly SqliteConsumer[]) => TickResult
  >;
  readonly #returnTx: BetterSqlite3.Transaction<(deliveries: readonly SqliteDelivery[]) => void>;

  constructor(options: SqliteBrokerOptions) {
    this.o = compileSqliteBrokerOptions(options);
    const opened = openSqliteWith(
      this.o.url,
      { busyTimeoutMs: this.o.busyTimeoutMs, what: 'creating the broker tables' },
      (db): Statements => {
        db.exec(BROKER_SCHEMA);
        return prepareStatements(db, BROKER_SQL);
      },
    );
    const db = opened.db;
    this.db = db;
    this.location = opened.location;
    this.s = opened.prepared;
    for (const name of ['count', 'countDue', 'countDelayed', 'countReserved', 'dlCount'] as const)
      this.s[name].pluck();
    for (const name of ['nextDue', 'nextExpiry'] as const) this.s[name].pluck();
    this.feed = new SqliteChangeFeed(db, this.location, { pollIntervalMs: this.o.pollIntervalMs });
    this.#tickTx = db.transaction(
      (writes: readonly PendingWrite[], hungry: readonly SqliteConsumer[]): TickResult => {
        let madeReady = false;
        for (const w of writes) if (w.run()) madeReady = true;
        const claimed = hungry.length === 0 ? { batches: [], starved: [] } : this.#claim(hungry);
        return { madeReady, ...claimed };
      },
    );
    this.#renewer = new LeaseRenewer(this);
    this.#returnTx = db.transaction((deliveries: readonly SqliteDelivery[]) => {
      for (const d of deliveries) this.s.requeue.run(d.id, d.owner);
    });
  }

  get now(): number {
    return this.o.clock.now();
  }

  assertOpen(what: string): void {
    if (this.state !== 'open') {
      throw new CeleriacError(
        ErrorCodes.CLOSED,
        `SqliteBroker.${what}() called after close() (${this.location.file})`,
      );
    }
  }

  /** Runs `fn` on the connection now, translating SQLite's errors. */
  sync<T>(what: string, fn: () => T): T {
    this.assertOpen(what);
    try {
      return fn();
    } catch (err) {
      if (isCeleriacError(err)) throw err;
      throw sqliteError(this.location, what, err);
    }
  }

  /** Queues a write for the next transaction; resolves once it is committed. */
  write(run: () => boolean): Promise<void> {
    if (this.state === 'closed') {
      return Promise.reject(
        new CeleriacError(
          ErrorCodes.CLOSED,
          `SqliteBroker: write after close() (${this.location.file})`,
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      this.#writes.push({ run, resolve, reject });
      this.schedule();
    });
  }

  /** Inserts one message; returns true when it is ready now (not delayed). */
  insert(row: NewRow, now: number, redelivered: 0 | 1 = 0): boolean {
    const delayed = row.at !== undefined && row.at > now;
    if (delayed) this.#delayedUntil = Math.min(this.#delayedUntil, Math.ceil(row.at));
    this.s.insert.run(
      row.queue,
      row.priority,
      delayed ? Math.ceil(row.at) : now,
      delayed ? STATE_DELAYED : STATE_READY,
      redelivered,
      row.meta,
      row.body,
    );
    return !delayed;
  }

  ackRow(d: SqliteDelivery): boolean {
    if (this.s.ack.run(d.id, d.owner).changes === 0) this.#lostLease(d, 'ack');
    return false;
  }

  requeueRow(d: SqliteDelivery): boolean {
    if (this.s.requeue.run(d.id, d.owner).changes === 0) {
      this.#lostLease(d, 'requeue');
      return false;
    }
    return true;
  }

  deadLetterRow(d: SqliteDelivery, code: string, text: string): boolean {
    const now = this.now;
    if (this.s.deadLetter.run(now, code, text, d.id, d.owner).changes === 0) {
      this.#lostLease(d, 'dead-letter');
      return false;
    }
    this.s.ack.run(d.id, d.owner);
    this.trimDeadLetters(d.queue, now);
    return false;
  }

  trimDeadLetters(queue: string, now: number): void {
    this.s.dlExpire.run(now - this.o.deadLetterTtlMs);
    this.s.dlCap.run(queue, queue, this.o.deadLetterLimit);
  }

  #lostLease(d: SqliteDelivery, what: string): void {
    this.o.logger.warn(
      { queue: d.queue, deliveryTag: d.deliveryTag },
      `${what} of a message whose lease had run out (visibilityTimeout ${this.o.leaseMs / 1000} s): it was given back to its queue and is, or was, delivered again`,
    );
  }

  // --- consumers -------------------------------------------------------------------------

  addConsumer(c: SqliteConsumer): void {
    this.consumers.add(c);
    this.#unsubscribe ??= this.feed.subscribe(this.#onChange);
    this.#renewer.start();
    this.schedule();
  }

  removeConsumer(c: SqliteConsumer): void {
    if (!this.consumers.delete(c)) return;
    c.active = false;
    if (this.consumers.size === 0) {
      this.#unsubscribe?.();
      this.#unsubscribe = undefined;
      this.#clearWake();
      this.#renewer.holdProcess(false);
    }
  }

  /** A delivery was settled: its consumer has a free slot again. */
  released(d: SqliteDelivery): void {
    this.held.delete(d.deliveryTag);
    d.consumer.unsettled--;
    if (d.consumer.active && !d.consumer.starved) this.schedule();
  }

  /** Something changed in the file (another process committed): every consumer looks again. */
  readonly #onChange = (): void => this.wakeAll();

  wakeAll(): void {
    for (const c of this.consumers) c.starved = false;
    this.schedule();
  }

  schedule(): void {
    if (this.#tickScheduled || this.state === 'closed') return;
    this.#tickScheduled = true;
    setImmediate(this.#tick);
  }

  readonly #tick = (): void => {
    this.#tickScheduled = false;
    this.flush();
  };

  /** Commits the queued writes and fills the consumers' free prefetch slots, in one transaction. */
  flush(): void {
    if (this.state === 'closed') return;
    const writes = this.#writes;
    this.#writes = [];
    const hungry: SqliteConsumer[] = [];
    for (const c of this.consumers) if (c.active && !c.starved && c.free > 0) hungry.push(c);
    if (writes.length === 0 && hungry.length === 0) return;
    let result: TickResult;
    try {
      // A look without the write lock first: an idle consumer woken by someone else's commit
      // (an ack, a result) costs a read, not a write transaction.
      if (writes.length === 0 && !this.#claimable(hungry)) {
        for (const c of hungry) c.starved = true;
        this.#armWake();
        return;
      }
      this.#delayedUntil = Infinity;
      result = this.#tickTx.immediate(writes, hungry);
    } catch (err) {
      const e = isCeleriacError(err)
        ? err
        : sqliteError(this.location, writes.length > 0 ? 'writing' : 'fetching', err);
      for (const w of writes) w.reject(e);
      if (hungry.length > 0) {
        this.o.logger.warn({ err: e }, 'SQLite broker fetch failed; retrying');
        for (const c of hungry) {
          c.starved = true;
          c.onError?.(e);
        }
        this.#armWake(this.now + RETRY_AFTER_ERROR_MS);
      }
      return;
    }
    for (const w of writes) w.resolve();
    for (const c of result.starved) c.starved = true;
    for (const batch of result.batches) this.#dispatch(batch);
    // A delayed message published here: consumers asleep on this broker wake when it is due
    // (another process's publish reaches them through the change feed instead).
    const delayedUntil = this.#delayedUntil;
    this.#delayedUntil = Infinity;
    if (result.madeReady) this.wakeAll();
    else if (result.starved.length > 0) this.#armWake();
    else if (delayedUntil !== Infinity) this.#armWake(delayedUntil);
  }

  #claimable(hungry: readonly SqliteConsumer[]): boolean {
    const now = this.now;
    if (this.s.anyDue.get(now) !== undefined || this.s.anyExpired.get(now) !== undefined)
      return true;
    const seen = new Set<string>();
    for (const c of hungry) {
      for (const q of c.queues) {
        if (seen.has(q)) continue;
        seen.add(q);
        if (this.s.anyReady.get(q) !== undefined) return true;
      }
    }
    return false;
  }

  /** Inside the transaction: makes due and orphaned messages ready, then claims for each consumer. */
  #claim(hungry: readonly SqliteConsumer[]): Omit<TickResult, 'madeReady'> {
    const now = this.now;
    this.s.promoteDue.run(now);
    const recovered = this.s.recoverExpired.run(now).changes;
    if (recovered > 0) {
      this.o.logger.warn(
        { recovered },
        `gave back ${recovered} message(s) whose consumer stopped renewing its lease (visibilityTimeout ${this.o.leaseMs / 1000} s); they are delivered again`,
      );
    }
    const leaseUntil = now + this.o.leaseMs;
    const batches: ClaimBatch[] = [];
    const starved: SqliteConsumer[] = [];
    for (const c of hungry) {
      let want = c.free;
      const k = c.queues.length;
      const start = c.next;
      c.next = (c.next + 1) % k;
      for (let i = 0; i < k && want > 0; i++) {
        const queue = c.queues[(start + i) % k] as string;
        const owner = `${this.instance}.${++this.#batches}`;
        const rows = this.s.claim.all(owner, leaseUntil, queue, want) as MessageRow[];
        if (rows.length === 0) continue;
        rows.sort((a, b) => a.priority - b.priority || a.ready_at - b.ready_at || a.id - b.id);
        batches.push({ consumer: c, queue, owner, rows });
        want -= rows.length;
      }
      // Claimed fewer than it had room for: its queues are empty until something changes.
      if (want > 0) starved.push(c);
    }
    // Consumers' counts change only after the commit (see #dispatch): a rollback leaves them true.
    return { batches, starved };
  }

  #dispatch(batch: ClaimBatch): void {
    const { consumer, queue, owner, rows } = batch;
    consumer.unsettled += rows.length;
    for (const row of rows) {
      const message = decodeMessage(row.meta, row.body);
      const d = new SqliteDelivery(
        this,
        consumer,
        row.id,
        owner,
        queue,
        message,
        row.redelivered !== 0,
      );
      this.held.set(d.deliveryTag, d);
      try {
        consumer.onMessage(d);
      } catch (err) {
        this.o.logger.error(
          { err, queue },
          'a consumer onMessage callback threw; the message stays unsettled',
        );
      }
    }
  }

  /** Sleeps the starved consumers until the next delayed message is due or a lease runs out. */
  #armWake(at?: number): void {
    if (this.consumers.size === 0 || this.state !== 'open') return;
    let next = at;
    if (next === undefined) {
      try {
        const due = this.s.nextDue.get() as number | null;
        const expiry = this.s.nextExpiry.get() as number | null;
        next = Math.min(due ?? Infinity, expiry ?? Infinity);
      } catch {
        next = this.now + RETRY_AFTER_ERROR_MS;
      }
    }
    if (next === Infinity) return this.#clearWake();
    if (this.#wakeTimer !== undefined && this.#wakeAt <= next) return;
    this.#clearWake();
    this.#wakeAt = next;
    this.#wakeTimer = setTimeout(
      () => {
        this.#wakeTimer = undefined;
        this.#wakeAt = Infinity;
        this.wakeAll();
      },
      Math.min(MAX_TIMER_MS, Math.max(0, next - this.now + 1)),
    );
  }

  #clearWake(): void {
    if (this.#wakeTimer !== undefined) clearTimeout(this.#wakeTimer);
    this.#wakeTimer = undefined;
    this.#wakeAt = Infinity;
  }

  close(): void {
    this.state = 'closing';
    for (const c of [...this.consumers]) this.removeConsumer(c);
    this.flush();
    const held = [...this.held.values()].filter((d) => d.markReturned());
    if (held.length > 0) {
      try {
        this.#returnTx.immediate(held);
      } catch (err) {
        this.o.logger.warn(
          { err, held: held.length },
          `could not give back ${held.length} held message(s) at close; they return when their lease runs out`,
        );
      }
    }
    // Writes queued after the last flush (by a caller racing close) fail rather than hang.
    const late = this.#writes;
    this.#writes = [];
    this.state = 'closed';
    const closed = new CeleriacError(
      ErrorCodes.CLOSED,
      `SqliteBroker: write after close() (${this.location.file})`,
    );
    for (const w of late) w.reject(closed);
    this.#clearWake();
    this.#renewer.close();
    this.feed.close();
    this.db.close();
  }
}

interface TickResult {
  /** A write made messages ready: consumers that found nothing look again. */
  readonly madeReady: boolean;
  readonly batches: readonly ClaimBatch[];
  /** Consumers that claimed fewer than they had room for. */
  readonly starved: readonly SqliteConsumer[];
}

interface ClaimBatch {
  readonly consumer: SqliteConsumer;
  readonly queue: string;
  readonly owner: string;
  readonly rows: MessageRow[];
}
