/**
 * Messages from a bench child process, matched by `type`: `next(type)` returns one already
 * received or waits for it; a failure (the child reported an error, or exited) rejects every
 * waiter and every later `next`. Both bench harnesses (Redis: IPC; AMQP: a line protocol on fd 3)
 * feed it with `deliver` and `fail`.
 */
export class Mailbox {
  /** @type {{ type: string, resolve: (m: any) => void, reject: (e: Error) => void }[]} */
  #waiters = [];
  /** @type {any[]} */
  #inbox = [];
  /** @type {Error | undefined} */
  failure;

  /** @param {() => string} describe names the child in errors (`worker process 123`) */
  constructor(describe) {
    this.describe = describe;
  }

  /** @type {Map<string, (m: any) => void>} */
  #handlers = new Map();

  /** Hands every message of `type` to `fn` from now on, instead of keeping it for `next`. */
  on(type, fn) {
    this.#handlers.set(type, fn);
  }

  deliver(msg) {
    if (msg?.type === 'error') {
      this.fail(new Error(`${this.describe()} reported: ${msg.message}`));
      return;
    }
    const handler = this.#handlers.get(msg?.type);
    if (handler) {
      handler(msg);
      return;
    }
    const i = this.#waiters.findIndex((w) => w.type === msg?.type);
    if (i >= 0) this.#waiters.splice(i, 1)[0].resolve(msg);
    else this.#inbox.push(msg);
  }

  fail(err) {
    this.failure ??= err;
    for (const w of this.#waiters.splice(0)) w.reject(err);
  }

  /** The next message of `type` (already received, or to come within `timeoutMs`). */
  next(type, timeoutMs) {
    const i = this.#inbox.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(this.#inbox.splice(i, 1)[0]);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
        reject(new Error(`${this.describe()}: no "${type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = {
        type,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.#waiters.push(waiter);
    });
  }
}
