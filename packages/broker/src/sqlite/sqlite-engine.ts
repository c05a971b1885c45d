// The machinery under SqliteBroker: one connection, its statements, the write batch of each
// turn of the event loop, the consumers and what they hold.
import { randomUUID } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import {
  CeleriacError,
  ErrorCodes,
  isCeleriacError,
  type BrokerMessage,
  type Consumer,
  type DeadLetterReason,
  type Delivery,
  type MessageProperties,
} from '@celeriac/core';
import { BROKER_SCHEMA, BROKER_SQL, STATE_DELAYED, STATE_READY } from './broker-schema.js';
import {
  openSqlite,
  SqliteChangeFeed,
  sqliteError,
  type SqliteDatabase,
  type SqliteLocation,
} from './connection.js';
import {
  compileSqliteBrokerOptions,
  type CompiledSqliteBrokerOptions,
  type SqliteBrokerOptions,
} from './options.js';

export type SqliteBrokerState = 'open' | 'closing' | 'closed';

/** Priorities run 0..9 and a lower number is served first, as on memory and Redis. */
const MIN_PRIORITY = 0;
const MAX_PRIORITY = 9;
/** kombu's default priority: a message without one is served as priority 0. */
const DEFAULT_PRIORITY = 0;
/** How long a consumer waits before retrying after a failed fetch. */
const RETRY_AFTER_ERROR_MS = 1000;
/** setTimeout's largest delay; a longer wait is re-armed. */
const MAX_TIMER_MS = 2_147_483_647;

type Statement = BetterSqlite3.Statement;
type Statements = { readonly [K in keyof typeof BROKER_SQL]: Statement };

interface MessageRow {
  id: number;
  priority: number;
  ready_at: number;
  redelivered: number;
  meta: string;
  body: Buffer;
}

/** What is stored beside the body: `[contentType, contentEncoding, headers, properties]`. */
export type Meta = [string, string, Record<string, unknown>, MessageProperties];

/** A write queued for the next transaction; `run` returns true when it made messages ready. */
export interface PendingWrite {
  readonly run: () => boolean;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

export function invalid(option: string, problem: string): CeleriacError {
  return new CeleriacError(ErrorCodes.INVALID_OPTION, `SqliteBroker: ${option} ${problem}`, {
    details: { option },
  });
}

export function checkQueue(queue: unknown): asserts queue is string {
  if (typeof queue !== 'string' || queue === '')
    throw invalid('queue', `must be a non-empty string, got ${JSON.stringify(queue)}`);
}

export function checkMessage(m: BrokerMessage): void {
  if (typeof m !== 'object' || m === null) throw invalid('message', 'must be a BrokerMessage');
  if (!Buffer.isBuffer(m.body)) throw invalid('message.body', 'must be a Buffer');
  if (typeof m.contentType !== 'string') throw invalid('message.contentType', 'must be a string');
}

/** kombu's rule: an integer clamped to 0..9, or the default when there is none. */
export function priorityOf(properties: MessageProperties): number {
  const raw = properties.priority as unknown;
  const n =
    typeof raw === 'number'
      ? raw
      : typeof raw === 'string' && raw.trim() !== ''
        ? Number(raw)
        : NaN;
  if (!Number.isFinite(n)) return DEFAULT_PRIORITY;
  return Math.min(MAX_PRIORITY, Math.max(MIN_PRIORITY, Math.trunc(n)));
}

export function encodeMeta(m: BrokerMessage): string {
  return JSON.stringify([m.contentType, m.contentEncoding, m.headers ?? {}, m.properties ?? {}]);
}

export function decodeMessage(meta: string, body: Buffer): BrokerMessage {
  const [contentType, contentEncoding, headers, properties] = JSON.parse(meta) as Meta;
  return { body, contentType, contentEncoding, headers, properties };
}

export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

export class SqliteConsumer implements Consumer {
  active = true;
  /** True when the last look found nothing to claim: waits for a change, a due time or an expiry. */
  starved = false;
  unsettled = 0;
  /** Round-robin start over `queues`, so several queues are served fairly. */
  next = 0;

  constructor(
    readonly engine: SqliteEngine,
    readonly queues: readonly string[],
    readonly prefetch: number,
    readonly onMessage: (delivery: Delivery) => void,
    readonly onError: ((error: Error) => void) | undefined,
  ) {}

  get free(): number {
    return this.prefetch - this.unsettled;
  }

  cancel(): Promise<void> {
    this.engine.removeConsumer(this);
    return Promise.resolve();
  }
}

type SettleState = 'unsettled' | 'acked' | 'requeued' | 'dead-lettered' | 'returned';

class SqliteDelivery implements Delivery {
  readonly deliveryTag: string;
  #state: SettleState = 'unsettled';

  constructor(
    readonly engine: SqliteEngine,
    readonly consumer: SqliteConsumer,
    readonly id: number,
    readonly owner: string,
    readonly queue: string,
    readonly message: BrokerMessage,
    readonly redelivered: boolean,
  ) {
    this.deliveryTag = `${owner}.${id}`;
  }

  ack(): Promise<void> {
    if (!this.#settle('acked')) return Promise.resolve();
    return this.engine.write(() => this.engine.ackRow(this));
  }

  /** See `Delivery.ackWithin`: `write` runs in the transaction of this batch's acks. */
  ackWithin(file: string, write: (db: unknown) => void): Promise<void> | undefined {
    if (file !== this.engine.location.file || this.#state !== 'unsettled') return undefined;
    this.#settle('acked');
    return this.engine.write(() => {
      write(this.engine.db);
      return this.engine.ackRow(this);
    });
  }

  requeue(): Promise<void> {
    if (!this.#settle('requeued')) return Promise.resolve();
    return this.engine.write(() => this.engine.requeueRow(this));
  }

  deadLetter(reason: DeadLetterReason): Promise<void> {
    if (!this.#settle('dead-lettered')) return Promise.resolve();
    const code = String(reason.code);
    const text = String(reason.message);
    return this.engine.write(() => this.engine.deadLetterRow(this, code, text));
  }

  /** Marks the delivery settled by close(), which gives it back itself. */
  markReturned(): boolean {
    return this.#settle('returned');
  }

  #settle(to: Exclude<SettleState, 'unsettled'>): boolean {
    if (this.#state !== 'unsettled') return false;
    this.#state = to;
    this.engine.released(this);
    return true;
  }
}

/**
 * One connection's worth of broker: the statements, the write batch, the consumers and what
 * they hold. Every write made in one turn of the event loop (publishes, acks, requeues, dead
 * letters) and the fetches of every consumer with free prefetch slots share one
 * `BEGIN IMMEDIATE` transaction.
 */
export class SqliteEngine {
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
  #renewTimer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  readonly #tickTx: BetterSqlite3.Transaction<
    (writes: readonly PendingWrite[], hungry: readonly SqliteConsumer[]) => TickResult
  >;
  readonly #renewTx: BetterSqlite3.Transaction<
    (deliveries: readonly SqliteDelivery[], until: number) => number
  >;
  readonly #returnTx: BetterSqlite3.Transaction<(deliveries: readonly SqliteDelivery[]) => void>;

  constructor(options: SqliteBrokerOptions) {
    this.o = compileSqliteBrokerOptions(options);
    const { db, location } = openSqlite(this.o.url, { busyTimeoutMs: this.o.busyTimeoutMs });
    this.db = db;
    this.location = location;
    try {
      db.exec(BROKER_SCHEMA);
      const s: Record<string, Statement> = {};
      for (const [name, sql] of Object.entries(BROKER_SQL)) s[name] = db.prepare(sql);
      this.s = s as Statements;
    } catch (err) {
      db.close();
      throw sqliteError(location, 'creating the broker tables', err);
    }
    for (const name of ['count', 'countDue', 'countDelayed', 'countReserved', 'dlCount'] as const)
      this.s[name].pluck();
    for (const name of ['nextDue', 'nextExpiry'] as const) this.s[name].pluck();
    this.feed = new SqliteChangeFeed(db, location, { pollIntervalMs: this.o.pollIntervalMs });
    this.#tickTx = db.transaction(
      (writes: readonly PendingWrite[], hungry: readonly SqliteConsumer[]): TickResult => {
        let madeReady = false;
        for (const w of writes) if (w.run()) madeReady = true;
        const claimed = hungry.length === 0 ? { batches: [], starved: [] } : this.#claim(hungry);
        return { madeReady, ...claimed };
      },
    );
    this.#renewTx = db.transaction((deliveries: readonly SqliteDelivery[], until: number) => {
      let lost = 0;
      for (const d of deliveries) if (this.s.renew.run(until, d.id, d.owner).changes === 0) lost++;
      return lost;
    });
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
    this.#startRenewing();
    this.schedule();
  }

  removeConsumer(c: SqliteConsumer): void {
    if (!this.consumers.delete(c)) return;
    c.active = false;
    if (this.consumers.size === 0) {
      this.#unsubscribe?.();
      this.#unsubscribe = undefined;
      this.#clearWake();
      this.#refreshRenewRef();
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

  /**
   * Renews the leases of what this broker holds every third of the lease. The timer keeps the
   * process alive while consumers are active (nothing else does: there is no socket), and lets
   * it exit once they are cancelled.
   */
  #startRenewing(): void {
    if (this.#renewTimer === undefined) {
      this.#renewTimer = setInterval(this.#renew, Math.max(1, Math.floor(this.o.leaseMs / 3)));
    }
    this.#refreshRenewRef();
  }

  #refreshRenewRef(): void {
    if (this.#renewTimer === undefined) return;
    if (this.consumers.size > 0) this.#renewTimer.ref();
    else this.#renewTimer.unref();
  }

  readonly #renew = (): void => {
    if (this.state === 'closed' || this.held.size === 0) return;
    try {
      const lost = this.#renewTx.immediate([...this.held.values()], this.now + this.o.leaseMs);
      if (lost > 0) {
        this.o.logger.warn(
          { lost },
          `${lost} held message(s) lost their lease before it was renewed (the event loop was blocked longer than the visibilityTimeout?); they are delivered again`,
        );
      }
    } catch (err) {
      this.o.logger.warn(
        { err: sqliteError(this.location, 'renewing leases', err) },
        'SQLite broker lease renewal failed; retrying',
      );
    }
  };

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
    if (this.#renewTimer !== undefined) clearInterval(this.#renewTimer);
    this.#renewTimer = undefined;
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

/** A message checked and encoded for insertion. */
export interface NewRow {
  readonly queue: string;
  readonly priority: number;
  /** `deliverAt`, when given. */
  readonly at: number | undefined;
  readonly meta: string;
  readonly body: Buffer;
}

interface ClaimBatch {
  readonly consumer: SqliteConsumer;
  readonly queue: string;
  readonly owner: string;
  readonly rows: MessageRow[];
}
