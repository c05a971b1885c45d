/** Node's Buffer method behind `write(text, offset, 'utf8')`, present since Node 0.x. */
interface Utf8Writable {
  utf8Write(text: string, offset: number): number;
}

/**
 * The events of one buffered group waiting for the next tick, written as UTF-8 bytes of a JSON
 * list as they come: `[` then each event's text, comma-separated; `take()` closes the list
 * and hands out its bytes. Each event's string dies as soon as it is written (a list of
 * strings kept every event, and the pieces it was concatenated from, alive until the flush:
 * they survived the scavenges in between and were promoted). The scratch buffer is reused
 * from one flush to the next; `take()` copies out exactly the bytes of the list.
 */
export class EventList {
  #buf: Buffer;
  #len = 1;
  #count = 0;

  constructor(initialBytes = 16 * 1024) {
    this.#buf = Buffer.allocUnsafe(initialBytes);
    this.#buf[0] = 0x5b; // [
  }

  /** Events written since the last `take()`. */
  get count(): number {
    return this.#count;
  }

  /** Appends one event's JSON text. */
  push(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit; 2 more for the comma and the closing `]`.
    const need = this.#len + text.length * 3 + 2;
    if (need > this.#buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.#buf.length * 2));
      this.#buf.copy(bigger, 0, 0, this.#len);
      this.#buf = bigger;
    }
    if (this.#count > 0) this.#buf[this.#len++] = 0x2c; // ,
    // utf8Write: write() without its argument juggling, which cost four times the copy.
    this.#len += (this.#buf as unknown as Utf8Writable).utf8Write(text, this.#len);
    this.#count++;
  }

  /** The list's bytes (`[…]`, a copy); the list starts over empty. */
  take(): Buffer {
    this.#buf[this.#len] = 0x5d; // ]
    const out = Buffer.allocUnsafe(this.#len + 1);
    this.#buf.copy(out, 0, 0, this.#len + 1);
    this.#len = 1;
    this.#count = 0;
    return out;
  }
}
