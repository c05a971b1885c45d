import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { CeleriacError, coalesceWrites, ErrorCodes, redactUrl, type Logger } from '@celeriac/core';
import { connect, type ChannelModel } from 'amqplib';

/** The URL with its password hidden, for messages and logs. */
export const safeUrl = redactUrl;

/** `CELERIAC_ERR_BACKEND_UNAVAILABLE` naming the URL that failed and what to check. */
export function backendUnavailable(url: string, cause: unknown, what?: string): CeleriacError {
  const reason =
    cause instanceof Error ? cause.message : typeof cause === 'string' ? cause : 'no connection';
  return new CeleriacError(
    ErrorCodes.BACKEND_UNAVAILABLE,
    `cannot reach RabbitMQ for the rpc:// result backend at ${safeUrl(url)}${what ? ` (${what})` : ''}: ${reason}. ` +
      'Check that RabbitMQ is running and reachable from here, and that the URL ' +
      '(host, port, user, password, virtual host) is right.',
    { cause, details: { url: safeUrl(url) } },
  );
}

export interface RpcConnectionOptions {
  readonly url: string;
  readonly name: string;
  readonly heartbeat: number;
  readonly connectTimeoutMs: number;
  readonly reconnectInitialDelayMs: number;
  readonly reconnectMaxDelayMs: number;
  readonly socketOptions: Readonly<Record<string, unknown>>;
  readonly logger: Logger;
}

/**
 * One AMQP connection that reconnects by itself (exponential backoff with jitter) once used,
 * until closed. `acquire()` waits up to `connectTimeoutMs` for a live one; `onOpen` runs on every
 * (re)connection with its generation, so the backend can set its queue and consumer up again.
 */
export class RpcConnection {
  readonly #o: RpcConnectionOptions;
  readonly #onOpen: (model: ChannelModel, generation: number) => void;
  #model: ChannelModel | undefined;
  #generation = 0;
  #closed = false;
  #lastError: unknown;
  #loop: Promise<void> | undefined;
  readonly #waiters = new Set<{
    resolve(m: ChannelModel): void;
    reject(e: Error): void;
    timer: NodeJS.Timeout;
  }>();
  readonly #abort = new AbortController();

  constructor(
    options: RpcConnectionOptions,
    onOpen: (model: ChannelModel, generation: number) => void,
  ) {
    this.#o = options;
    this.#onOpen = onOpen;
  }

  get generation(): number {
    return this.#generation;
  }

  acquire(what: string): Promise<ChannelModel> {
    if (this.#closed) {
      return Promise.reject(
        new CeleriacError(ErrorCodes.CLOSED, `RpcResultBackend: ${what} after close()`),
      );
    }
    if (this.#model) return Promise.resolve(this.#model);
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          reject(backendUnavailable(this.#o.url, this.#lastError ?? 'timed out connecting', what));
        }, this.#o.connectTimeoutMs),
      };
      this.#waiters.add(waiter);
      this.#loop ??= this.#connectLoop().finally(() => {
        this.#loop = undefined;
      });
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    for (const w of this.#waiters) {
      clearTimeout(w.timer);
      w.reject(new CeleriacError(ErrorCodes.CLOSED, 'RpcResultBackend closed'));
    }
    this.#waiters.clear();
    const model = this.#model;
    this.#model = undefined;
    await model?.close().catch(() => undefined);
    await this.#loop;
  }

  #isClosed(): boolean {
    return this.#closed;
  }

  async #connectLoop(): Promise<void> {
    let delay = this.#o.reconnectInitialDelayMs;
    while (!this.#isClosed()) {
      try {
        const url = /[?&]heartbeat=/.test(this.#o.url)
          ? this.#o.url
          : `${this.#o.url}${this.#o.url.includes('?') ? '&' : '?'}heartbeat=${this.#o.heartbeat}`;
        const model = await connect(url, {
          noDelay: true,
          timeout: Math.min(this.#o.connectTimeoutMs, 10_000),
          ...this.#o.socketOptions,
          clientProperties: { connection_name: this.#o.name },
        });
        if (this.#isClosed()) {
          await model.close().catch(() => undefined);
          return;
        }
        coalesceSocketWrites(model);
        this.#attach(model);
        return;
      } catch (err) {
        this.#lastError = err;
        try {
          await sleep(delay * (0.5 + Math.random() / 2), undefined, { signal: this.#abort.signal });
        } catch {
          return;
        }
        delay = Math.min(delay * 2, this.#o.reconnectMaxDelayMs);
      }
    }
  }

  #attach(model: ChannelModel): void {
    this.#model = model;
    this.#generation++;
    model.on('error', (err: unknown) => {
      this.#lastError = err;
    });
    model.on('close', () => {
      if (this.#model !== model) return;
      this.#model = undefined;
      if (this.#closed) return;
      this.#o.logger.warn(
        `lost the rpc:// result backend's RabbitMQ connection (${safeUrl(this.#o.url)}); reconnecting`,
      );
      this.#loop ??= this.#connectLoop().finally(() => {
        this.#loop = undefined;
      });
    });
    for (const w of this.#waiters) {
      clearTimeout(w.timer);
      w.resolve(model);
    }
    this.#waiters.clear();
    this.#onOpen(model, this.#generation);
  }
}

/**
 * amqplib writes every frame (a publish, an ack) to the socket on its own, one system call
 * each; coalesced, the frames of one event-loop turn leave in one `writev`.
 */
function coalesceSocketWrites(model: ChannelModel): void {
  const stream = (model.connection as unknown as { stream?: unknown }).stream;
  if (stream instanceof Writable) coalesceWrites(stream);
}
