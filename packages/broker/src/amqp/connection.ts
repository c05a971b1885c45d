import { Writable } from 'node:stream';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CeleriacError, type Logger } from '@celeriac/core';
import { coalesceWrites } from '@celeriac/core/internal';
import { connect, type ChannelModel } from 'amqplib';
import { amqpClosed, amqpUnavailable, roleOwner, safeUrl, type AmqpRole } from './errors.js';
import { parseAmqpUrls, UrlRotation, type AmqpFailoverStrategy } from './failover.js';

export type AmqpConnectionState = 'idle' | 'connecting' | 'open' | 'closed';

/** What an {@link AmqpConnection} connects to and how it comes back. */
export interface AmqpConnectionOptions {
  /** One URL, or a cluster's URLs joined by `;` (see `parseAmqpUrls`). */
  readonly url: string;
  /** How the next URL of a list is picked after a failure. @default 'round-robin' */
  readonly failoverStrategy?: AmqpFailoverStrategy;
  /** Whom it works for: the code and wording of its errors (see `AmqpRole`). */
  readonly role: AmqpRole;
  /** Shown by RabbitMQ as the connection's name. */
  readonly name: string;
  /** Seconds, unless the URL sets `heartbeat`; 0 takes the server's. */
  readonly heartbeat: number;
  readonly connectTimeoutMs: number;
  readonly reconnectInitialDelayMs: number;
  readonly reconnectMaxDelayMs: number;
  readonly socketOptions: Readonly<Record<string, unknown>>;
  readonly logger: Logger;
}

interface Waiter {
  resolve(model: ChannelModel): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
  what: string;
}

/**
 * One AMQP connection that comes back by itself: it connects on first use, and whenever it
 * drops (network, RabbitMQ restart, a forced close) it reconnects with exponential backoff and
 * jitter, for as long as it is not closed. Whoever needs it calls `acquire()`, which waits for
 * a live connection up to `connectTimeoutMs`; channels are opened by their owners, who listen for
 * `open` (a new connection, with its generation) and for their channels' `close`. The broker's
 * connections and the rpc:// result backend's are all of this one kind; `role` only changes
 * the errors they raise.
 *
 * Events: `open` (model, generation), `lost` (error), `blocked` (reason), `unblocked`.
 */
export class AmqpConnection extends EventEmitter {
  readonly #o: AmqpConnectionOptions;
  #state: AmqpConnectionState = 'idle';
  #model: ChannelModel | undefined;
  #generation = 0;
  #blocked = false;
  #lastError: Error | undefined;
  #waiters = new Set<Waiter>();
  #loop: Promise<void> | undefined;
  #everOpen = false;
  readonly #abort = new AbortController();
  readonly #rotation: UrlRotation;
  /** The URL of the node the open connection (or the last one) went to. */
  #connectedUrl: string;

  constructor(options: AmqpConnectionOptions) {
    super();
    this.#o = options;
    this.#rotation = new UrlRotation(
      parseAmqpUrls(options.url, roleOwner(options.role)),
      options.failoverStrategy ?? 'round-robin',
    );
    this.#connectedUrl = this.#rotation.current;
  }

  get state(): AmqpConnectionState {
    return this.#state;
  }
  /** Increases with every (re)connection; a channel from an older generation is gone. */
  get generation(): number {
    return this.#generation;
  }
  get model(): ChannelModel | undefined {
    return this.#state === 'open' ? this.#model : undefined;
  }
  /** True while RabbitMQ has blocked this connection (a memory or disk alarm). */
  get blocked(): boolean {
    return this.#blocked;
  }
  /** The URL as configured: one, or a cluster's list joined by `;`. */
  get url(): string {
    return this.#o.url;
  }
  /** The URL of the node the connection is open to (or was last), one of {@link url}'s. */
  get connectedUrl(): string {
    return this.#connectedUrl;
  }

  /** A live connection, connecting first when needed. */
  acquire(what: string): Promise<ChannelModel> {
    if (this.#state === 'closed') return Promise.reject(amqpClosed(this.#o.role, what, false));
    if (this.#state === 'open' && this.#model) return Promise.resolve(this.#model);
    return new Promise<ChannelModel>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        what,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          reject(this.unavailable(this.#lastError ?? 'timed out connecting', what));
        }, this.#o.connectTimeoutMs),
      };
      this.#waiters.add(waiter);
      this.#ensureLoop();
    });
  }

  /** The error of this connection's role for `cause` (RabbitMQ unreachable, or gone). */
  unavailable(cause: unknown, what?: string): CeleriacError {
    return amqpUnavailable(this.#o.role, this.#o.url, cause, what);
  }

  /** Closes the connection for good. Idempotent. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#abort.abort();
    for (const w of this.#waiters) {
      clearTimeout(w.timer);
      w.reject(amqpClosed(this.#o.role, w.what, true));
    }
    this.#waiters.clear();
    const model = this.#model;
    this.#model = undefined;
    if (model) {
      try {
        await model.close();
      } catch {
        // already gone
      }
    }
    await this.#loop;
  }

  #ensureLoop(): void {
    if (this.#loop || this.#state === 'closed' || this.#state === 'open') return;
    this.#state = 'connecting';
    this.#loop = this.#connectLoop().finally(() => {
      this.#loop = undefined;
    });
  }

  async #connectLoop(): Promise<void> {
    let delay = this.#o.reconnectInitialDelayMs;
    while (this.#state !== 'closed') {
      let model: ChannelModel;
      const url = this.#rotation.current;
      try {
        model = await connect(withHeartbeat(url, this.#o.heartbeat), {
          noDelay: true,
          timeout: Math.min(this.#o.connectTimeoutMs, 10_000),
          ...this.#o.socketOptions,
          clientProperties: { connection_name: this.#o.name },
        });
      } catch (err) {
        this.#lastError = err instanceof Error ? err : new Error(String(err));
        // With a cluster's list, the next node is tried at once; the pause comes after a round.
        const { roundDone } = this.#rotation.failed();
        this.#o.logger.debug(
          { err: this.#lastError, retryInMs: roundDone ? delay : 0 },
          `cannot connect to RabbitMQ at ${safeUrl(url)}`,
        );
        if (!roundDone) continue;
        try {
          await sleep(delay * (0.5 + Math.random() / 2), undefined, { signal: this.#abort.signal });
        } catch {
          return; // closed
        }
        delay = Math.min(delay * 2, this.#o.reconnectMaxDelayMs);
        continue;
      }
      if (this.#isClosed()) {
        await model.close().catch(() => undefined);
        return;
      }
      coalesceSocketWrites(model);
      this.#rotation.connected();
      const previous = this.#connectedUrl;
      this.#connectedUrl = url;
      this.#attach(model, previous);
      return;
    }
  }

  /** Read through a method: the state changes while an attempt awaits. */
  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  #attach(model: ChannelModel, previousUrl: string): void {
    this.#model = model;
    this.#state = 'open';
    this.#blocked = false;
    this.#generation++;
    const generation = this.#generation;
    model.on('error', (err: Error) => {
      this.#lastError = err;
    });
    model.on('blocked', (reason: string) => {
      if (this.#model !== model) return;
      this.#blocked = true;
      this.#o.logger.warn(
        { reason },
        `RabbitMQ blocked the ${this.#o.name} connection (${reason}); publishing waits until it is unblocked`,
      );
      this.emit('blocked', reason);
    });
    model.on('unblocked', () => {
      if (this.#model !== model) return;
      this.#blocked = false;
      this.#o.logger.info(`RabbitMQ unblocked the ${this.#o.name} connection`);
      this.emit('unblocked');
    });
    model.on('close', (err?: Error) => {
      if (this.#model !== model) return;
      this.#model = undefined;
      this.#blocked = false;
      if (this.#state === 'closed') return;
      this.#state = 'idle';
      const cause = err ?? this.#lastError ?? new Error('connection closed');
      this.#lastError = cause;
      this.#o.logger.warn(
        { err: cause },
        `lost the RabbitMQ connection ${this.#o.name} to ${safeUrl(this.#connectedUrl)}; reconnecting` +
          (this.#rotation.size > 1 ? ' (to the next node of the list first)' : ''),
      );
      this.#rotation.lost();
      this.emit('lost', this.unavailable(cause));
      this.#ensureLoop();
    });
    if (this.#everOpen) {
      const moved = previousUrl !== this.#connectedUrl;
      this.#o.logger.info(
        moved
          ? `failed over to RabbitMQ at ${safeUrl(this.#connectedUrl)} from ${safeUrl(previousUrl)} (${this.#o.name})`
          : `reconnected to RabbitMQ at ${safeUrl(this.#connectedUrl)} (${this.#o.name})`,
      );
    }
    this.#everOpen = true;
    for (const w of this.#waiters) {
      clearTimeout(w.timer);
      w.resolve(model);
    }
    this.#waiters.clear();
    this.emit('open', model, generation);
  }
}

/** Adds `heartbeat=<seconds>` to the URL's query unless it sets one. */
function withHeartbeat(url: string, heartbeat: number): string {
  if (/[?&]heartbeat=/.test(url)) return url;
  return `${url}${url.includes('?') ? '&' : '?'}heartbeat=${heartbeat}`;
}

/**
 * amqplib writes every frame (a publish, an ack) to the socket on its own, one system call
 * each; coalesced, the frames of one event-loop turn leave in one `writev`.
 */
function coalesceSocketWrites(model: ChannelModel): void {
  const stream = (model.connection as unknown as { stream?: unknown }).stream;
  if (stream instanceof Writable) coalesceWrites(stream);
}
