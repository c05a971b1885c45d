/**
 * Collects what is added during one turn of the event loop and hands it over in one piece
 * once the turn is over (`process.nextTick`), so a burst of calls (the publishes of a
 * `Promise.all`, the results a worker finishes together) costs one script call rather than one
 * each. The broker's publishes and the result backend's stores batch this way.
 */
export class TurnBatch<T> {
  readonly #flush: (items: T[]) => void;
  #items: T[] = [];
  #scheduled = false;

  /** `flush` receives the items of a turn, in the order they were added; it must not throw. */
  constructor(flush: (items: T[]) => void) {
    this.#flush = flush;
  }

  add(item: T): void {
    this.#items.push(item);
    if (this.#scheduled) return;
    this.#scheduled = true;
    process.nextTick(this.#run);
  }

  readonly #run = (): void => {
    this.#scheduled = false;
    const items = this.#items;
    this.#items = [];
    this.#flush(items);
  };
}

/** `items` cut into runs of at most `max` (a script call's bound), `[items]` when it fits. */
export function slices<T>(items: readonly T[], max: number): (readonly T[])[] {
  if (items.length <= max) return [items];
  const out: (readonly T[])[] = [];
  for (let i = 0; i < items.length; i += max) out.push(items.slice(i, i + max));
  return out;
}
