import { randomUUID } from 'node:crypto';
import type { BrokerMessage, DeadLetter, DeadLetterReason, DeadLetterStore } from '@celeriac/core';
import { checkQueue } from './memory-broker-options.js';
import { cloneMessage } from './memory-message.js';
import type { MemoryQueue } from './memory-queue.js';
import type { MemoryServer } from './memory-server.js';
import type { Session } from './memory-session.js';

/** Drops the queue's dead letters older than the namespace's `deadLetterTtlMs`. */
export function sweepDeadLetters(server: MemoryServer, q: MemoryQueue): void {
  const oldest = server.now - server.settings.deadLetterTtlMs;
  for (const [id, dl] of q.deadLetters) {
    if (dl.deadAt > oldest) break;
    q.deadLetters.delete(id);
  }
}

/** Keeps `message` (the broker's own copy) as a dead letter of `queue`, within the limit. */
export function addDeadLetter(
  server: MemoryServer,
  queue: string,
  message: BrokerMessage,
  reason: DeadLetterReason,
): void {
  const q = server.queue(queue);
  sweepDeadLetters(server, q);
  const id = randomUUID();
  q.deadLetters.set(id, {
    id,
    queue,
    reason: { code: String(reason.code), message: String(reason.message) },
    deadAt: server.now,
    message,
  });
  while (q.deadLetters.size > server.settings.deadLetterLimit) {
    const first = q.deadLetters.keys().next();
    if (first.done === true) break;
    q.deadLetters.delete(first.value);
  }
}

/** A `MemoryBroker`'s dead letters: those of its namespace's queues. */
export class MemoryDeadLetterStore implements DeadLetterStore {
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
      sweepDeadLetters(server, q);
      const result = fn(q);
      server.prune(queue);
      return result;
    });
  }
}
