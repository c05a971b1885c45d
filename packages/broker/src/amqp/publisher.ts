import { CeleriacError, ErrorCodes, isCeleriacError, type Logger } from '@celeriac/core';
import type { ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import type { AmqpConnection } from './connection.js';
import { channelErrorCode } from './errors.js';
import { NackRetries } from './nack-retry.js';
import { EncodedProperties, publishEncoded } from './publish-frames.js';

/** One message on its way to RabbitMQ, until RabbitMQ confirms it. */
export interface PublishJob {
  /** The queue it is for, for error messages. */
  readonly queue: string;
  readonly exchange: string;
  readonly routingKey: string;
  readonly content: Buffer;
  /** amqplib's options, or the properties already encoded (`encodeMessageProperties`). */
  readonly options: Options.Publish | EncodedProperties;
  /** Declares what the message needs; run again before a re-publish on a new channel. */
  readonly prepare: () => Promise<void>;
}

interface Pending extends PublishJob {
  resolve(): void;
  reject(err: Error): void;
  /** Times it was written on a channel that then closed. */
  attempts: number;
  /** Times such a channel was closed by a channel error (404…), which may be this message's. */
  channelErrors: number;
  /** Set when RabbitMQ returned it (`mandatory`): the confirm that follows rejects. */
  returned: string | undefined;
  /** Times RabbitMQ nacked it (see `NackRetries`). */
  nacks?: number;
}

/** How many channel errors a message may be caught in before its publish fails. */
const MAX_CHANNEL_ERRORS = 3;

/**
 * Publishes over one confirm channel. Messages are written back to back and confirmed by
 * RabbitMQ in batches (`basic.ack` with `multiple`), so a publish resolves only once RabbitMQ has
 * the message, and concurrent publishes share their round trips. A `basic.return` (mandatory: no
 * queue took the message) rejects the publish; so does a `basic.nack` once the message was
 * nacked again on a few more tries (see `NackRetries`).
 *
 * When the channel or the connection drops, the messages not yet confirmed are published again
 * on the next channel, after their topology is declared again: a resolved publish may so
 * have reached RabbitMQ twice, never zero times. While RabbitMQ blocks the connection (memory
 * or disk alarm) and while the socket's buffer is full, nothing is written: publishes wait
 * instead of filling this process's memory with frames.
 */
export class Publisher {
  readonly #conn: AmqpConnection;
  readonly #logger: Logger;
  readonly #onReturned: (queue: string) => void;
  readonly #onChannelError: (code: number) => void;
  #queue: Pending[] = [];
  readonly #inflight = new Set<Pending>();
  #retry: Pending[] = [];
  readonly #nacked = new NackRetries<Pending>();
  #channel: ConfirmChannel | undefined;
  #opening: Promise<ConfirmChannel> | undefined;
  #channelError: number | undefined;
  #draining = false;
  #pumping = false;
  #closed = false;

  constructor(
    conn: AmqpConnection,
    logger: Logger,
    hooks: { onReturned: (queue: string) => void; onChannelError: (code: number) => void },
  ) {
    this.#conn = conn;
    this.#logger = logger;
    this.#onReturned = hooks.onReturned;
    this.#onChannelError = hooks.onChannelError;
    conn.on('unblocked', () => this.#kick());
    conn.on('open', () => this.#kick());
  }

  /** Messages written and not yet confirmed, plus those waiting to be written. */
  get pending(): number {
    return this.#queue.length + this.#inflight.size + this.#retry.length + this.#nacked.size;
  }

  /** Publishes the jobs in order; resolves when RabbitMQ confirmed all, rejects on the first failure. */
  async publish(jobs: readonly PublishJob[]): Promise<void> {
    if (jobs.length === 0) return;
    this.#assertOpen();
    if (jobs.length === 1) {
      // One task's publish (`delay()`): no arrays, one promise.
      const job = jobs[0]!;
      await job.prepare();
      this.#assertOpen();
      const settled = this.#enqueue(job);
      this.#kick();
      return settled;
    }
    await Promise.all(jobs.map((j) => j.prepare()));
    this.#assertOpen();
    const settled = jobs.map((job) => this.#enqueue(job));
    this.#kick();
    await Promise.all(settled);
  }

  #enqueue(job: PublishJob): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      // A literal of one shape (not a spread): this runs once per message.
      this.#queue.push({
        queue: job.queue,
        exchange: job.exchange,
        routingKey: job.routingKey,
        content: job.content,
        options: job.options,
        prepare: job.prepare,
        resolve,
        reject,
        attempts: 0,
        channelErrors: 0,
        returned: undefined,
      });
    });
  }

  /**
   * Stops publishing: what was not written yet fails with `CELERIAC_ERR_CLOSED`; what was written
   * gets up to `graceMs` to be confirmed.
   */
  async close(graceMs: number): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closed = new CeleriacError(
      ErrorCodes.CLOSED,
      'AmqpBroker closed before the message was published',
    );
    for (const p of this.#queue.splice(0)) p.reject(closed);
    for (const p of this.#retry.splice(0)) p.reject(closed);
    for (const p of this.#nacked.drain()) p.reject(closed);
    const deadline = Date.now() + graceMs;
    while (this.#inflight.size > 0 && Date.now() < deadline && this.#channel) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const ch = this.#channel;
    this.#channel = undefined;
    await ch?.close().catch(() => undefined);
    for (const p of this.#inflight) p.reject(closed);
    this.#inflight.clear();
  }

  #assertOpen(): void {
    if (this.#closed)
      throw new CeleriacError(ErrorCodes.CLOSED, 'AmqpBroker.publish() called after close()');
  }

  #kick(): void {
    if (this.#pumping || this.#closed || this.#queue.length === 0) return;
    void this.#pump();
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        if (this.#conn.blocked || this.#draining) return; // resumed by 'unblocked' / 'drain'
        let ch: ConfirmChannel;
        try {
          ch = await this.#open();
        } catch (err) {
          // No connection within connectTimeoutMs (or closed): fail what waits.
          for (const p of this.#queue.splice(0)) p.reject(publishFailed(err, p.queue));
          return;
        }
        const job = this.#queue[0];
        if (job === undefined || this.#closed) break; // emptied while the channel opened
        if (job.attempts > 0) {
          try {
            await job.prepare();
          } catch (err) {
            this.#queue.splice(this.#queue.indexOf(job), 1);
            job.reject(publishFailed(err, job.queue));
            continue;
          }
          if (ch !== this.#channel || this.#queue[0] !== job) continue;
        }
        this.#queue.shift();
        this.#inflight.add(job);
        let flushed: boolean;
        try {
          const confirmed = (err: unknown): void => this.#confirmed(job, err);
          flushed =
            job.options instanceof EncodedProperties
              ? publishEncoded(
                  ch,
                  job.exchange,
                  job.routingKey,
                  job.content,
                  job.options,
                  confirmed,
                )
              : ch.publish(job.exchange, job.routingKey, job.content, job.options, confirmed);
        } catch {
          // The channel closed between our check and the write: publish it on the next one.
          this.#inflight.delete(job);
          this.#queue.unshift(job);
          if (this.#channel === ch) this.#channel = undefined;
          continue;
        }
        if (!flushed) this.#draining = true;
      }
    } finally {
      this.#pumping = false;
    }
    // Jobs that arrived while the loop was ending.
    if (!this.#conn.blocked && !this.#draining) this.#kick();
  }

  #confirmed(job: Pending, err: unknown): void {
    if (!this.#inflight.delete(job)) return;
    if (err === null || err === undefined) {
      if (job.returned !== undefined) {
        job.reject(
          new CeleriacError(
            ErrorCodes.PUBLISH_FAILED,
            `RabbitMQ returned the message for queue "${job.queue}" (${job.returned}): no queue took it; was the queue deleted?`,
            { details: { queue: job.queue, exchange: job.exchange, routingKey: job.routingKey } },
          ),
        );
      } else {
        job.resolve();
      }
      return;
    }
    if (err instanceof Error && err.message === 'message nacked') {
      const again = (j: Pending): void => {
        this.#queue.push(j);
        this.#kick();
      };
      this.#replaceChannel();
      if (!this.#closed && this.#nacked.schedule(job, again)) return;
      job.reject(
        new CeleriacError(
          ErrorCodes.PUBLISH_FAILED,
          `RabbitMQ refused the message for queue "${job.queue}" (basic.nack, ${(job.nacks ?? 0) + 1} times): the queue may be full ` +
            '(x-overflow reject-publish) or unavailable',
          { cause: err, details: { queue: job.queue } },
        ),
      );
      return;
    }
    // The channel closed before the confirm: publish it again on the next channel.
    job.attempts++;
    this.#retry.push(job);
  }

  /**
   * A channel that RabbitMQ nacked on may go on nacking: RabbitMQ 3.10 kept nacking every
   * publish to a quorum queue on a channel that first published to it just as the queue's
   * leader node died, while a new channel was fine. So the next message goes on a new channel;
   * what is unconfirmed on this one is published again there.
   */
  #replaceChannel(): void {
    const ch = this.#channel;
    if (ch === undefined) return;
    this.#channel = undefined;
    void ch.close().catch(() => undefined);
  }

  #open(): Promise<ConfirmChannel> {
    if (this.#channel) return Promise.resolve(this.#channel);
    this.#opening ??= this.#openChannel().finally(() => {
      this.#opening = undefined;
    });
    return this.#opening;
  }

  async #openChannel(): Promise<ConfirmChannel> {
    for (;;) {
      const model = await this.#conn.acquire('publish');
      let ch: ConfirmChannel;
      try {
        ch = await model.createConfirmChannel();
      } catch {
        continue; // the connection dropped meanwhile: wait for the next one
      }
      this.#channelError = undefined;
      ch.on('error', (err: unknown) => {
        const code = channelErrorCode(err);
        if (code !== undefined) {
          this.#channelError = code;
          this.#onChannelError(code);
        }
        this.#logger.warn(
          { err },
          'the RabbitMQ publish channel failed; publishing again on a new one',
        );
      });
      ch.on('return', (msg: ConsumeMessage) => this.#returned(msg));
      ch.on('drain', () => {
        this.#draining = false;
        this.#kick();
      });
      // amqplib fails the unconfirmed messages ('channel closed') before this runs.
      ch.on('close', () => this.#channelClosed(ch));
      this.#channel = ch;
      this.#draining = false;
      return ch;
    }
  }

  #channelClosed(ch: ConfirmChannel): void {
    if (this.#channel === ch) this.#channel = undefined;
    this.#draining = false;
    const retry = this.#retry.splice(0);
    const byChannelError = this.#channelError !== undefined;
    this.#channelError = undefined;
    const again: Pending[] = [];
    for (const job of retry) {
      if (this.#closed) {
        job.reject(
          new CeleriacError(
            ErrorCodes.CLOSED,
            'AmqpBroker closed before the message was confirmed',
          ),
        );
        continue;
      }
      if (byChannelError && ++job.channelErrors >= MAX_CHANNEL_ERRORS) {
        job.reject(
          new CeleriacError(
            ErrorCodes.PUBLISH_FAILED,
            `publishing to queue "${job.queue}" failed: RabbitMQ closed the channel ${MAX_CHANNEL_ERRORS} times while it was in flight`,
            { details: { queue: job.queue } },
          ),
        );
        continue;
      }
      again.push(job);
    }
    if (again.length > 0) {
      this.#logger.debug({ messages: again.length }, 'publishing unconfirmed messages again');
      this.#queue.unshift(...again);
    }
    this.#kick();
  }

  /**
   * `basic.return` carries the message, not its sequence number: it belongs to the oldest
   * unconfirmed message with the same destination and bytes (two identical messages are
   * interchangeable). The return always precedes that message's confirm.
   */
  #returned(msg: ConsumeMessage): void {
    const f = msg.fields as unknown as {
      exchange: string;
      routingKey: string;
      replyCode: number;
      replyText: string;
    };
    for (const job of this.#inflight) {
      if (
        job.returned === undefined &&
        job.exchange === f.exchange &&
        job.routingKey === f.routingKey &&
        job.content.equals(msg.content)
      ) {
        job.returned = `${f.replyCode} ${f.replyText}`;
        this.#onReturned(job.queue);
        return;
      }
    }
  }
}

export function publishFailed(err: unknown, queue: string): CeleriacError {
  if (isCeleriacError(err)) return err;
  return new CeleriacError(
    ErrorCodes.PUBLISH_FAILED,
    `publishing to queue "${queue}" failed: ${err instanceof Error ? err.message : String(err)}`,
    { cause: err, details: { queue } },
  );
}
