import type { EntryChange, StoreWatch } from './schedule-store.js';

/**
 * The `watch` listeners of one store instance. A store calls `emit` for each change it learns
 * of (its own writes, or notices from other instances); `onIdle` runs when the last listener
 * goes, so a store can drop the subscription it held for them.
 */
export class ChangeListeners {
  readonly #listeners = new Set<(change: EntryChange) => void>();
  readonly #onIdle: () => void;

  constructor(onIdle: () => void = () => undefined) {
    this.#onIdle = onIdle;
  }

  get size(): number {
    return this.#listeners.size;
  }

  add(listener: (change: EntryChange) => void): StoreWatch {
    // A wrapper per call, so watching twice with one function gives two independent handles.
    const entry = (change: EntryChange): void => listener(change);
    this.#listeners.add(entry);
    let closed = false;
    return {
      close: () => {
        if (!closed) {
          closed = true;
          this.#listeners.delete(entry);
          if (this.#listeners.size === 0) this.#onIdle();
        }
        return Promise.resolve();
      },
    };
  }

  emit(change: EntryChange): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(change);
      } catch {
        // A listener's failure is its own: the store's write succeeded, and other listeners
        // still hear of it.
      }
    }
  }

  clear(): void {
    this.#listeners.clear();
  }
}
