import type { BrokerMessage, DeadLetter } from '@celeriac/core';
import { Deque } from './deque.js';
import { priorityOf } from './memory-message.js';

/** A message ready for delivery. */
export interface ReadyMessage {
  readonly message: BrokerMessage;
  readonly redelivered: boolean;
}

/** One queue of a namespace: its ready messages by priority, its held count, its dead letters. */
export class MemoryQueue {
  /** One FIFO per priority level, index = priority (0 served first). */
  readonly #levels: (Deque<ReadyMessage> | undefined)[] = [];
  #ready = 0;
  /** Messages of this queue waiting in the namespace's delay heap. */
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
