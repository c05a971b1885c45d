import { setTimeout as sleep } from 'node:timers/promises';
import { isCeleriacError } from '@celeriac/core';
import type { Channel } from 'amqplib';
import type { AmqpConnection } from './connection.js';
import { brokerUnavailable, channelErrorCode } from './errors.js';

/**
 * A channel for declarations and queries (declare, purge, count), one operation at a time. A
 * channel error (404 for a queue that does not exist, 406 for a queue declared with other
 * arguments) makes RabbitMQ close the channel: serializing the operations keeps that failure to
 * the operation that caused it, and the next one opens a fresh channel. An operation that loses
 * its connection is run again once the connection is back (they are all idempotent), within
 * `connectTimeoutMs`.
 */
export class AdminChannel {
  readonly #conn: AmqpConnection;
  readonly #connectTimeoutMs: number;
  #channel: Channel | undefined;
  #channelGeneration = -1;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(conn: AmqpConnection, connectTimeoutMs: number) {
    this.#conn = conn;
    this.#connectTimeoutMs = connectTimeoutMs;
  }

  /** The generation of the connection the last operation ran on. */
  get generation(): number {
    return this.#conn.generation;
  }

  /**
   * Runs `fn` on the admin channel after the operations queued before it. Channel errors
   * (403/404/405/406) reach the caller as amqplib raised them; a lost connection becomes
   * `CELERIAC_ERR_BROKER_UNAVAILABLE` once `connectTimeoutMs` has passed.
   */
  run<T>(what: string, fn: (ch: Channel) => Promise<T>): Promise<T> {
    const result = this.#tail.then(() => this.#attempt(what, fn));
    this.#tail = result.catch(() => undefined);
    return result;
  }

  async #attempt<T>(what: string, fn: (ch: Channel) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.#connectTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      let ch: Channel | undefined;
      try {
        ch = await this.#open(what);
        return await fn(ch);
      } catch (err) {
        if (isCeleriacError(err) || channelErrorCode(err) !== undefined) throw err;
        // The channel or the connection went away under the operation: run it again.
        if (ch !== undefined && this.#channel === ch) this.#channel = undefined;
        if (Date.now() > deadline) throw brokerUnavailable(this.#conn.url, err, what);
        await sleep(Math.min(50 * 2 ** attempt, 1000));
      }
    }
  }

  async #open(what: string): Promise<Channel> {
    if (this.#channel && this.#channelGeneration === this.#conn.generation) return this.#channel;
    this.#channel = undefined;
    const model = await this.#conn.acquire(what);
    const generation = this.#conn.generation;
    const ch = await model.createChannel();
    ch.on('error', () => {
      // The operation that caused it sees the error; the close below retires the channel.
    });
    ch.on('close', () => {
      if (this.#channel === ch) this.#channel = undefined;
    });
    this.#channel = ch;
    this.#channelGeneration = generation;
    return ch;
  }
}
