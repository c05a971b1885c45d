import { randomUUID } from 'node:crypto';
import {
  CeleriacError,
  ErrorCodes,
  systemClock,
  type Broker,
  type BrokerMessage,
  type Clock,
  type ConsumeOptions,
  type Consumer,
  type DeadLetter,
  type DeadLetterReason,
  type DeadLetterStore,
  type Delivery,
  type MessageProperties,
  type PublishItem,
  type OptionType,
  type PublishOptions,
  optionChecks,
  optionTypes as t,
} from '@celeriac/core';

/**
 * Options of a {@link MemoryBroker}. Brokers that name the same namespace share its queues, so
 * the settings that belong to the queues (clock, dead-letter bounds) are fixed by the first
 * broker that opens the namespace; a later broker passing a different value is refused.
 */
export interface MemoryBrokerOptions {
  /**
   * `memory://` names the process-wide default namespace, `memory://<name>` a named one. Every
   * `MemoryBroker` of one namespace sees the same queues, the way a client and a worker see
   * the same Redis.
   * @default 'memory://'
   */
  url?: string;
  /**
   * The source of "now" for `deliverAt` and dead-letter ages. Real timers wake the broker; a
   * clock that runs ahead of them (a `ManualClock` moved by a test) is read again on every
   * broker call, so due messages become ready as soon as anyone looks.
   * @default systemClock
   */
  clock?: Clock;
  /**
   * Dead letters kept per queue; beyond it the oldest are dropped.
   * @default 10000
   */
  deadLetterLimit?: number;
  /**
   * How long a dead letter is kept, in milliseconds.
   * @default 604800000 (seven days)
   */
  deadLetterTtlMs?: number;
}

interface CompiledMemoryBrokerOptions {
  readonly namespace: string;
  readonly clock: Clock | undefined;
  readonly deadLetterLimit: number | undefined;
  readonly deadLetterTtlMs: number | undefined;
}

const DEFAULT_NAMESPACE = 'default';
const DEFAULT_DEAD_LETTER_LIMIT = 10_000;
const DEFAULT_DEAD_LETTER_TTL_MS = 7 * 24 * 60 * 60 * 1000;
/** Priorities on this transport run 0..9 and a lower number is served first, as on Redis. */
const MIN_PRIORITY = 0;
const MAX_PRIORITY = 9;
/** kombu's `default_priority`: a message without one is served as priority 0. */
const DEFAULT_PRIORITY = 0;
/** Deliveries made in one synchronous pump before yielding to the event loop. */
const PUMP_BUDGET = 1000;
/** setTimeout's largest delay; longer waits are re-armed. */
const MAX_TIMER_MS = 2_147_483_647;

function invalid(option: string, problem: string): CeleriacError {
  return new CeleriacError(ErrorCodes.INVALID_OPTION, `MemoryBroker: ${option} ${problem}`, {
    details: { option },
  });
}

/** Rejections carry Errors; an AbortSignal's reason (or a thrown value) may be anything. */
function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value), { cause: value });
}

/** Parses `memory://` and `memory://<name>` into a namespace name. */
function memoryNamespaceOf(url: string): string {
  const match = /^memory:\/\/([^?#]*)/i.exec(url);
  if (!match) {
    throw new CeleriacError(
      ErrorCodes.UNSUPPORTED_URL,
      `MemoryBroker: "${url}" is not a memory:// URL (use memory:// or memory://<name>)`,
      { details: { url } },
    );
  }
  const name = decodeURIComponent((match[1] ?? '').replace(/\/+$/, ''));
  return name === '' ? DEFAULT_NAMESPACE : name;
}

function positiveInteger(value: number | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value <= 0)
    throw invalid(option, `must be a positive integer, got ${value}`);
  return value;
}

const SPEC = {
  url: t.string,
  clock: t.object,
  deadLetterLimit: t.positiveInteger,
  deadLetterTtlMs: t.positiveInteger,
} as const satisfies { readonly [K in keyof Required<MemoryBrokerOptions>]: OptionType };

const { strict } = optionChecks('MemoryBroker');

function compileMemoryBrokerOptions(o: MemoryBrokerOptions): CompiledMemoryBrokerOptions {
  strict(o, SPEC, { renamed: { deadLetterTtl: 'deadLetterTtlMs' } });
  return {
    namespace: memoryNamespaceOf(o.url ?? 'memory://'),
    clock: o.clock,
    deadLetterLimit: positiveInteger(o.deadLetterLimit, 'deadLetterLimit'),
    deadLetterTtlMs: positiveInteger(o.deadLetterTtlMs, 'deadLetterTtlMs'),
  };
}

// ---------------------------------------------------------------------------------------------
// Message copies: a broker must not see later mutation by the publisher, nor a consumer see
// another consumer's. Body bytes are shared and treated as immutable.

function cloneValue(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(cloneValue);
  if (v instanceof Date) return new Date(v.getTime());
  if (ArrayBuffer.isView(v)) return v;
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = cloneValue(x);
  return out;
}

function cloneMessage(m: BrokerMessage): BrokerMessage {
  return {
    body: m.body,
    contentType: m.contentType,
    contentEncoding: m.contentEncoding,
    headers: cloneValue(m.headers) as Record<string, unknown>,
    properties: cloneValue(m.properties) as MessageProperties,
  };
}

function checkMessage(m: BrokerMessage): void {
  if (typeof m !== 'object' || m === null) throw invalid('message', 'must be a BrokerMessage');
  if (!Buffer.isBuffer(m.body)) throw invalid('message.body', 'must be a Buffer');
  if (typeof m.contentType !== 'string') throw invalid('message.contentType', 'must be a string');
}

function checkQueue(queue: string): void {
  if (typeof queue !== 'string' || queue === '')
    throw invalid('queue', 'must be a non-empty string');
}

/** kombu's `_get_message_priority`: an int clamped to 0..9, or the default when there is none. */
function priorityOf(m: BrokerMessage): number {
  const raw = m.properties.priority as unknown;
  const n =
    typeof raw === 'number'
      ? raw
      : typeof raw === 'string' && raw.trim() !== ''
        ? Number(raw)
        : NaN;
  if (!Number.isFinite(n)) return DEFAULT_PRIORITY;
  return Math.min(MAX_PRIORITY, Math.max(MIN_PRIORITY, Math.trunc(n)));
}

// ---------------------------------------------------------------------------------------------
// Small data structures.

/** A ring-buffer double-ended queue: O(1) at both ends (requeue puts a message back in front). */
class Deque<T> {
  #buf: (T | undefined)[] = new Array<T | undefined>(8);
  #head = 0;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(v: T): void {
    if (this.#size === this.#buf.length) this.#grow();
    this.#buf[(this.#head + this.#size) & (this.#buf.length - 1)] = v;
    this.#size++;
  }

  unshift(v: T): void {
    if (this.#size === this.#buf.length) this.#grow();
    this.#head = (this.#head - 1 + this.#buf.length) & (this.#buf.length - 1);
    this.#buf[this.#head] = v;
    this.#size++;
  }

  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const v = this.#buf[this.#head];
    this.#buf[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#buf.length - 1);
    this.#size--;
    return v;
  }

  clear(): void {
    this.#buf = new Array<T | undefined>(8);
    this.#head = 0;
    this.#size = 0;
  }

  #grow(): void {
    const next = new Array<T | undefined>(this.#buf.length * 2);
    for (let i = 0; i < this.#size; i++)
      next[i] = this.#buf[(this.#head + i) & (this.#buf.length - 1)];
    this.#buf = next;
    this.#head = 0;
  }
}

interface HeldMessage {
  readonly queue: string;
  readonly message: BrokerMessage;
  readonly deliverAt: number;
  readonly seq: number;
}

/** A binary min-heap of held messages by (deliverAt, publish order). */
class DelayHeap {
  readonly #items: HeldMessage[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): HeldMessage | undefined {
    return this.#items[0];
  }

  push(item: HeldMessage): void {
    const a = this.#items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(i, parent)) break;
      this.#swap(i, parent);
      i = parent;
    }
  }

  pop(): HeldMessage | undefined {
    const a = this.#items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.#less(l, m)) m = l;
        if (r < a.length && this.#less(r, m)) m = r;
        if (m === i) break;
        this.#swap(i, m);
        i = m;
      }
    }
    return top;
  }

  #less(i: number, j: number): boolean {
    const x = this.#items[i];
    const y = this.#items[j];
    if (x === undefined || y === undefined) return false;
    return x.deliverAt < y.deliverAt || (x.deliverAt === y.deliverAt && x.seq < y.seq);
  }

  #swap(i: number, j: number): void {
    const a = this.#items;
    const x = a[i];
    const y = a[j];
    if (x === undefined || y === undefined) return;
    a[i] = y;
    a[j] = x;
  }
}

// ---------------------------------------------------------------------------------------------
// The shared in-process "server": queues, held messages, dead letters and the consumers of
// every MemoryBroker that opened the namespace.

interface ReadyMessage {
  readonly message: BrokerMessage;
  readonly redelivered: boolean;
}

class MemoryQueue {
  /** One FIFO per priority level, index = priority (0 served first). */
  readonly #levels: (Deque<ReadyMessage> | undefined)[] = [];
  #ready = 0;
  delayed = 0;
  /** Dead letters in the order they died (Map keeps insertion order). */
  readonly deadLetters = new Map<string, DeadLetter>();

  get ready(): number {
    return this.#ready;
  }

  push(item: ReadyMessage, front = false): void {
    const p = priorityOf(item.message);
    let level = this.#levels[p];
    if (level === undefined) {
      level = new Deque<ReadyMessage>();
      this.#levels[p] = level;
    }
    if (front) level.unshift(item);
    else level.push(item);
    this.#ready++;
  }

  take(): ReadyMessage | undefined {
    if (this.#ready === 0) return undefined;
    for (const level of this.#levels) {
      const item = level?.shift();
      if (item !== undefined) {
        this.#ready--;
        return item;
      }
    }
    return undefined;
  }

  purge(): number {
    const n = this.#ready;
    for (const level of this.#levels) level?.clear();
    this.#ready = 0;
    return n;
  }

  get isEmpty(): boolean {
    return this.#ready === 0 && this.delayed === 0 && this.deadLetters.size === 0;
  }
}

class ConsumerState {
  unsettled = 0;
  active = true;
  /** Round-robin position over `queues`, so several queues are served fairly. */
  next = 0;
  constructor(
    readonly owner: Session,
    readonly queues: readonly string[],
    readonly prefetch: number,
    readonly onMessage: (delivery: Delivery) => void,
    readonly onError: ((error: Error) => void) | undefined,
  ) {}
}

interface ServerSettings {
  readonly clock: Clock;
  readonly deadLetterLimit: number;
  readonly deadLetterTtlMs: number;
}

class MemoryServer {
  readonly queues = new Map<string, MemoryQueue>();
  readonly #held = new DelayHeap();
  #seq = 0;
  #consumers: ConsumerState[] = [];
  #rr = 0;
  #pumpScheduled = false;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  /** Brokers that opened this namespace and have not closed. */
  brokers = 0;

  constructor(
    readonly name: string,
    readonly settings: ServerSettings,
  ) {}

  get now(): number {
    return this.settings.clock.now();
  }

  queue(name: string): MemoryQueue {
    let q = this.queues.get(name);
    if (q === undefined) {
      q = new MemoryQueue();
      this.queues.set(name, q);
    }
    return q;
  }

  /**
   * Forgets a queue with nothing in it. An empty queue and a missing one behave the same, so
   * queue names used once (per-test, per-client reply queues) do not accumulate.
   */
  prune(name: string): void {
    if (this.queues.get(name)?.isEmpty === true) this.queues.delete(name);
  }

  get isIdle(): boolean {
    if (this.#held.size > 0) return false;
    for (const q of this.queues.values()) if (!q.isEmpty) return false;
    return true;
  }

  /** Accepts a message already copied from the publisher's. */
  accept(queue: string, message: BrokerMessage, deliverAt: number | undefined): void {
    const q = this.queue(queue);
    if (deliverAt !== undefined && deliverAt > this.now) {
      q.delayed++;
      this.#held.push({ queue, message, deliverAt, seq: this.#seq++ });
      this.#armTimer();
    } else {
      q.push({ message, redelivered: false });
      this.schedulePump();
    }
  }

  /** Gives a message back to the front of its queue, as a redelivery. */
  restore(queue: string, message: BrokerMessage): void {
    this.queue(queue).push({ message, redelivered: true }, true);
    this.schedulePump();
  }

  /** Moves held messages whose time has come to their queues. */
  promoteDue(): void {
    const now = this.now;
    let moved = false;
    for (
      let head = this.#held.peek();
      head !== undefined && head.deliverAt <= now;
      head = this.#held.peek()
    ) {
      this.#held.pop();
      const q = this.queue(head.queue);
      q.delayed--;
      q.push({ message: head.message, redelivered: false });
      moved = true;
    }
    if (moved) this.schedulePump();
    this.#armTimer();
  }

  addConsumer(c: ConsumerState): void {
    this.#consumers.push(c);
    this.#refreshTimerRef();
    this.schedulePump();
  }

  removeConsumer(c: ConsumerState): void {
    c.active = false;
    this.#consumers = this.#consumers.filter((x) => x !== c);
    this.#refreshTimerRef();
  }

  schedulePump(): void {
    if (this.#pumpScheduled || this.#consumers.length === 0) return;
    this.#pumpScheduled = true;
    // A macrotask, not a microtask: a consumer that requeues from inside onMessage must not
    // be able to spin the event loop.
    setImmediate(() => this.#pump());
  }

  /**
   * Hands ready messages to consumers with room under their prefetch. One message per consumer
   * per pass keeps consumers of one queue fair; each consumer rotates over its queues.
   */
  #pump(): void {
    this.#pumpScheduled = false;
    this.promoteDue();
    let budget = PUMP_BUDGET;
    let progress = true;
    while (progress && budget > 0) {
      progress = false;
      const consumers = this.#consumers;
      const n = consumers.length;
      for (let i = 0; i < n && budget > 0; i++) {
        const c = consumers[(this.#rr + i) % n];
        if (c === undefined || !c.active || c.unsettled >= c.prefetch) continue;
        if (this.#deliverOne(c)) {
          progress = true;
          budget--;
        }
      }
      if (n > 0) this.#rr = (this.#rr + 1) % n;
    }
    if (budget === 0) this.schedulePump();
  }

  #deliverOne(c: ConsumerState): boolean {
    const k = c.queues.length;
    for (let i = 0; i < k; i++) {
      const index = (c.next + i) % k;
      const queue = c.queues[index];
      if (queue === undefined) continue;
      const item = this.queues.get(queue)?.take();
      if (item === undefined) continue;
      this.prune(queue);
      c.next = (index + 1) % k;
      c.unsettled++;
      const delivery = new MemoryDelivery(c, queue, item.message, item.redelivered);
      c.owner.unsettled.add(delivery);
      try {
        c.onMessage(delivery);
      } catch (err) {
        // The contract says onMessage must not throw. The delivery stays with the caller
        // (requeueing it here could loop forever on a handler that always throws).
        c.onError?.(asError(err));
      }
      return true;
    }
    return false;
  }

  #armTimer(): void {
    const head = this.#held.peek();
    if (head === undefined) {
      this.#clearTimer();
      return;
    }
    if (this.#timer !== undefined && this.#timerAt === head.deliverAt) return;
    this.#clearTimer();
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, head.deliverAt - this.now));
    this.#timerAt = head.deliverAt;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.promoteDue();
    }, delay);
    this.#refreshTimerRef();
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  /**
   * Held messages keep the process alive only while someone consumes: a script that publishes
   * a countdown task and exits must not hang until it is due.
   */
  #refreshTimerRef(): void {
    if (this.#timer === undefined) return;
    if (this.#consumers.length > 0) this.#timer.ref();
    else this.#timer.unref();
  }

  dispose(): void {
    this.#clearTimer();
  }

  // --- dead letters -----------------------------------------------------------------------

  sweepDeadLetters(q: MemoryQueue): void {
    const oldest = this.now - this.settings.deadLetterTtlMs;
    for (const [id, dl] of q.deadLetters) {
      if (dl.deadAt > oldest) break;
      q.deadLetters.delete(id);
    }
  }

  addDeadLetter(queue: string, message: BrokerMessage, reason: DeadLetterReason): void {
    const q = this.queue(queue);
    this.sweepDeadLetters(q);
    const id = randomUUID();
    q.deadLetters.set(id, {
      id,
      queue,
      reason: { code: String(reason.code), message: String(reason.message) },
      deadAt: this.now,
      message,
    });
    while (q.deadLetters.size > this.settings.deadLetterLimit) {
      const first = q.deadLetters.keys().next();
      if (first.done === true) break;
      q.deadLetters.delete(first.value);
    }
  }
}

const namespaces = new Map<string, MemoryServer>();

function openServer(o: CompiledMemoryBrokerOptions): MemoryServer {
  const existing = namespaces.get(o.namespace);
  if (existing !== undefined) {
    const s = existing.settings;
    const conflict =
      (o.clock !== undefined && o.clock !== s.clock && 'clock') ||
      (o.deadLetterLimit !== undefined &&
        o.deadLetterLimit !== s.deadLetterLimit &&
        'deadLetterLimit') ||
      (o.deadLetterTtlMs !== undefined &&
        o.deadLetterTtlMs !== s.deadLetterTtlMs &&
        'deadLetterTtlMs');
    if (conflict) {
      throw invalid(
        conflict,
        `differs from the one memory://${o.namespace} was opened with; brokers sharing a namespace share its settings (use another memory://<name>)`,
      );
    }
    existing.brokers++;
    return existing;
  }
  const server = new MemoryServer(o.namespace, {
    clock: o.clock ?? systemClock,
    deadLetterLimit: o.deadLetterLimit ?? DEFAULT_DEAD_LETTER_LIMIT,
    deadLetterTtlMs: o.deadLetterTtlMs ?? DEFAULT_DEAD_LETTER_TTL_MS,
  });
  server.brokers = 1;
  namespaces.set(o.namespace, server);
  return server;
}

function releaseServer(server: MemoryServer): void {
  server.brokers--;
  // A namespace outlives its brokers while it holds messages (a client may publish and close
  // before the worker opens); an empty one is dropped so test namespaces do not pile up.
  if (server.brokers <= 0 && server.isIdle && namespaces.get(server.name) === server) {
    namespaces.delete(server.name);
    server.dispose();
  }
}

// ---------------------------------------------------------------------------------------------

type SettleState = 'unsettled' | 'acked' | 'requeued' | 'dead-lettered' | 'returned';

class MemoryDelivery implements Delivery {
  readonly deliveryTag = randomUUID();
  /** The broker's own copy, what goes back on requeue; `message` is the consumer's copy. */
  readonly #stored: BrokerMessage;
  readonly message: BrokerMessage;
  #state: SettleState = 'unsettled';

  constructor(
    private readonly consumer: ConsumerState,
    readonly queue: string,
    stored: BrokerMessage,
    readonly redelivered: boolean,
  ) {
    this.#stored = stored;
    this.message = cloneMessage(stored);
  }

  get settled(): boolean {
    return this.#state !== 'unsettled';
  }

  ack(): Promise<void> {
    this.#settle('acked');
    return Promise.resolve();
  }

  requeue(): Promise<void> {
    if (this.#settle('requeued')) this.consumer.owner.server.restore(this.queue, this.#stored);
    return Promise.resolve();
  }

  deadLetter(reason: DeadLetterReason): Promise<void> {
    if (this.#settle('dead-lettered')) {
      this.consumer.owner.server.addDeadLetter(this.queue, this.#stored, reason);
    }
    return Promise.resolve();
  }

  /** Called by the broker's close(): the message goes back to its queue. */
  returnToQueue(): void {
    if (this.#settle('returned')) this.consumer.owner.server.restore(this.queue, this.#stored);
  }

  /** Settles once; returns false (and does nothing) when already settled. */
  #settle(to: Exclude<SettleState, 'unsettled'>): boolean {
    if (this.#state !== 'unsettled') return false;
    this.#state = to;
    this.consumer.unsettled--;
    this.consumer.owner.unsettled.delete(this);
    this.consumer.owner.server.schedulePump();
    return true;
  }
}

/** One broker's view of a namespace: its consumers, its unsettled deliveries, its open state. */
class Session {
  readonly consumers = new Set<ConsumerState>();
  readonly unsettled = new Set<MemoryDelivery>();
  closed = false;

  constructor(readonly server: MemoryServer) {}

  assertOpen(): void {
    if (this.closed) {
      throw new CeleriacError(
        ErrorCodes.CLOSED,
        `MemoryBroker (memory://${this.server.name}) is closed`,
      );
    }
  }

  /** Runs `fn` on an open broker, turning what it throws into a rejection. */
  run<T>(fn: () => T): Promise<T> {
    try {
      this.assertOpen();
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(asError(err));
    }
  }

  cancel(c: ConsumerState): void {
    if (!this.consumers.delete(c)) return;
    this.server.removeConsumer(c);
  }
}

class MemoryDeadLetterStore implements DeadLetterStore {
  constructor(private readonly session: Session) {}

  list(queue: string, options: { limit?: number } = {}): Promise<DeadLetter[]> {
    return this.#run(queue, (q) => {
      const limit = options.limit ?? Infinity;
      const out: DeadLetter[] = [];
      for (const dl of q.deadLetters.values()) {
        if (out.length >= limit) break;
        out.push({ ...dl, reason: { ...dl.reason }, message: cloneMessage(dl.message) });
      }
      return out;
    });
  }

  replay(queue: string, ids?: readonly string[]): Promise<number> {
    return this.#run(queue, (q) => {
      const chosen =
        ids === undefined ? [...q.deadLetters.keys()] : ids.filter((id) => q.deadLetters.has(id));
      let n = 0;
      for (const id of chosen) {
        const dl = q.deadLetters.get(id);
        if (dl === undefined) continue;
        q.deadLetters.delete(id);
        // Back of the queue, marked as a redelivery: it was delivered (and failed) before.
        q.push({ message: dl.message, redelivered: true });
        n++;
      }
      if (n > 0) this.session.server.schedulePump();
      return n;
    });
  }

  purge(queue: string): Promise<number> {
    return this.#run(queue, (q) => {
      const n = q.deadLetters.size;
      q.deadLetters.clear();
      return n;
    });
  }

  count(queue: string): Promise<number> {
    return this.#run(queue, (q) => q.deadLetters.size);
  }

  #run<T>(queue: string, fn: (q: MemoryQueue) => T): Promise<T> {
    return this.session.run(() => {
      checkQueue(queue);
      const server = this.session.server;
      const q = server.queue(queue);
      server.sweepDeadLetters(q);
      const result = fn(q);
      server.prune(queue);
      return result;
    });
  }
}

/**
 * An in-process broker: real queue semantics (prefetch-bounded fair delivery, ack, requeue,
 * dead letters, priorities, delayed delivery) without a server, for tests and single-process
 * apps. Brokers opened on the same `memory://<name>` share queues, so a client and a worker
 * created separately in one process talk to each other. Nothing survives the process.
 *
 * Priorities follow Celery on Redis: 0..9, a lower number first, unset served as 0; messages of
 * equal priority are FIFO. Several queues consumed together are served round-robin.
 *
 * @example
 * ```ts
 * const broker = new MemoryBroker({ url: 'memory://app' });
 * await broker.consume({ queues: ['celery'], prefetch: 4, onMessage: (d) => void d.ack() });
 * await broker.publish('celery', encodeTaskMessage(createTaskMessage({ name: 'tasks.add', args: [1, 2] })));
 * ```
 */
export class MemoryBroker implements Broker {
  readonly kind = 'memory' as const;
  readonly deadLetters: DeadLetterStore;
  readonly #session: Session;

  constructor(options: MemoryBrokerOptions = {}) {
    this.#session = new Session(openServer(compileMemoryBrokerOptions(options)));
    this.deadLetters = new MemoryDeadLetterStore(this.#session);
  }

  /** The namespace this broker shares with others opened on the same `memory://<name>`. */
  get namespace(): string {
    return this.#session.server.name;
  }

  declareQueue(queue: string): Promise<void> {
    // Queues come into being on first use and an empty one is the same as a missing one, so
    // there is nothing to create; the name is still checked.
    return this.#session.run(() => checkQueue(queue));
  }

  publish(queue: string, message: BrokerMessage, options: PublishOptions = {}): Promise<void> {
    return this.publishMany([{ queue, message, options }]);
  }

  publishMany(items: readonly PublishItem[]): Promise<void> {
    return this.#session.run(() => {
      // Validate the whole batch first so a bad item publishes nothing.
      for (const item of items) {
        checkQueue(item.queue);
        checkMessage(item.message);
        const at = item.options?.deliverAt;
        if (at !== undefined && !Number.isFinite(at)) {
          throw invalid('deliverAt', `must be epoch milliseconds, got ${at}`);
        }
      }
      const server = this.#session.server;
      server.promoteDue();
      for (const item of items)
        server.accept(item.queue, cloneMessage(item.message), item.options?.deliverAt);
    });
  }

  consume(options: ConsumeOptions): Promise<Consumer> {
    return this.#session.run(() => {
      const { queues, prefetch } = options;
      if (!Array.isArray(options.queues) || queues.length === 0)
        throw invalid('queues', 'must name at least one queue');
      for (const q of queues) checkQueue(q);
      if (!Number.isInteger(prefetch) || prefetch <= 0) {
        throw invalid('prefetch', `must be a positive integer, got ${prefetch}`);
      }
      if (typeof options.onMessage !== 'function') throw invalid('onMessage', 'must be a function');
      const session = this.#session;
      const unique = [...new Set(queues)];
      const state = new ConsumerState(
        session,
        unique,
        prefetch,
        options.onMessage,
        options.onError,
      );
      session.consumers.add(state);
      session.server.addConsumer(state);
      return {
        cancel: () => {
          session.cancel(state);
          return Promise.resolve();
        },
      };
    });
  }

  purge(queue: string): Promise<number> {
    return this.#session.run(() => {
      checkQueue(queue);
      const server = this.#session.server;
      server.promoteDue();
      const n = server.queues.get(queue)?.purge() ?? 0;
      server.prune(queue);
      return n;
    });
  }

  count(queue: string): Promise<number> {
    return this.#session.run(() => {
      checkQueue(queue);
      const server = this.#session.server;
      server.promoteDue();
      return server.queues.get(queue)?.ready ?? 0;
    });
  }

  countDelayed(queue: string): Promise<number> {
    return this.#session.run(() => {
      checkQueue(queue);
      const server = this.#session.server;
      server.promoteDue();
      return server.queues.get(queue)?.delayed ?? 0;
    });
  }

  /**
   * Cancels this broker's consumers and returns its unsettled deliveries to their queues (as
   * redeliveries), as a closing AMQP channel does. The namespace's queues stay for the other
   * brokers. Idempotent.
   */
  close(): Promise<void> {
    const session = this.#session;
    if (session.closed) return Promise.resolve();
    session.closed = true;
    for (const c of [...session.consumers]) session.cancel(c);
    for (const d of [...session.unsettled]) d.returnToQueue();
    releaseServer(session.server);
    return Promise.resolve();
  }
}
