import type { BrokerMessage } from '@celeriac/core';

/** A message published with a future `deliverAt`, waiting for its time. */
export interface HeldMessage {
  readonly queue: string;
  readonly message: BrokerMessage;
  readonly deliverAt: number;
  /** Publish order, so messages due at the same moment keep it. */
  readonly seq: number;
}

/** A binary min-heap of held messages by (deliverAt, publish order). */
export class DelayHeap {
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
