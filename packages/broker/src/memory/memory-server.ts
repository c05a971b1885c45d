import { systemClock, type BrokerMessage, type Clock } from '@celeriac/core';
import { DelayHeap } from './delay-heap.js';
import { invalid, type CompiledMemoryBrokerOptions } from './memory-broker-options.js';
import { MemoryDelivery } from './memory-delivery.js';
import { MemoryQueue } from './memory-queue.js';
import type { ConsumerState } from './memory-session.js';

const DEFAULT_DEAD_LETTER_LIMIT = 10_000;
const DEFAULT_DEAD_LETTER_TTL_MS = 7 * 24 * 60 * 60 * 1000;
/** Deliveries made in one synchronous pump before yielding to the event loop. */
const PUMP_BUDGET = 1000;
/** setTimeout's largest delay; longer waits are re-armed. */
const MAX_TIMER_MS = 2_147_483_647;

/** What a namespace is opened with, fixed for as long as it lives. */
export interface ServerSettings {
  readonly clock: Clock;
  readonly deadLetterLimit: number;
  readonly deadLetterTtlMs: number;
}

/**
 * The shared in-process "server" of one namespace: queues, held messages, dead letters and the
 * consumers of every `MemoryBroker` that opened it.
 */
export class MemoryServer {
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
      c.hand(new MemoryDelivery(c, queue, item.message, item.redelivered));
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
}

const namespaces = new Map<string, MemoryServer>();

/** The namespace's server, created on first use; refuses settings that differ from its own. */
export function openServer(o: CompiledMemoryBrokerOptions): MemoryServer {
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

/** A broker of the namespace closed. */
export function releaseServer(server: MemoryServer): void {
  server.brokers--;
  // A namespace outlives its brokers while it holds messages (a client may publish and close
  // before the worker opens); an empty one is dropped so test namespaces do not pile up.
  if (server.brokers <= 0 && server.isIdle && namespaces.get(server.name) === server) {
    namespaces.delete(server.name);
    server.dispose();
  }
}
