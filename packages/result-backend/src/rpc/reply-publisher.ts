import { setTimeout as sleep } from 'node:timers/promises';
import { CeleriacError, ErrorCodes, serializerByName, type Logger } from '@celeriac/core';
import { backendUnavailable, type AmqpConnection } from '@celeriac/broker/amqp/internal';
import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib';
import type { CompiledRpcResultBackendOptions } from './options.js';

/** The properties of one message sent to a reply queue. */
export interface ReplyProperties {
  readonly correlationId: string;
  /** Per-message TTL in milliseconds, as AMQP's `expiration` string. */
  readonly expiration: string;
  readonly headers?: Record<string, unknown>;
}

/** A channel of the rpc:// backend; its failures are logged, its owner watches its `close`. */
export async function openRpcChannel(
  model: ChannelModel,
  confirm: boolean,
  logger: Logger,
): Promise<Channel> {
  const ch = confirm ? await model.createConfirmChannel() : await model.createChannel();
  ch.on('error', (err: unknown) => {
    logger.debug({ err }, 'an rpc:// result backend channel failed');
  });
  return ch;
}

/**
 * Sends messages to reply queues on a confirm channel of its own, resolving once RabbitMQ
 * confirmed each; a message the channel or connection lost before its confirm is sent again
 * until `connectTimeoutMs` has passed.
 */
export class ReplyPublisher {
  readonly #conn: AmqpConnection;
  readonly #o: CompiledRpcResultBackendOptions;
  #publishing: Promise<ConfirmChannel> | undefined;

  constructor(conn: AmqpConnection, options: CompiledRpcResultBackendOptions) {
    this.#conn = conn;
    this.#o = options;
  }

  async publish(what: string, queue: string, body: Buffer, props: ReplyProperties): Promise<void> {
    const deadline = Date.now() + this.#o.connectTimeoutMs;
    const serializer = serializerByName(this.#o.serializer);
    for (;;) {
      const ch = await this.#channel(what);
      try {
        await new Promise<void>((resolve, reject) => {
          ch.publish(
            '',
            queue,
            body,
            {
              contentType: serializer.contentType,
              contentEncoding: serializer.contentEncoding,
              correlationId: props.correlationId,
              deliveryMode: this.#o.persistent ? 2 : 1,
              expiration: props.expiration,
              ...(props.headers ? { headers: props.headers } : {}),
            },
            (err: unknown) => (err ? reject(asError(err)) : resolve()),
          );
        });
        return;
      } catch (err) {
        if (err instanceof Error && err.message === 'message nacked') {
          throw new CeleriacError(
            ErrorCodes.BACKEND_UNAVAILABLE,
            `RabbitMQ refused the result for reply queue "${queue}" (basic.nack)`,
            { cause: err, details: { queue } },
          );
        }
        // The channel or the connection went away before the confirm: send it again.
        if (Date.now() > deadline) throw backendUnavailable(this.#o.amqpUrl, err, what);
        await sleep(50);
      }
    }
  }

  #channel(what: string): Promise<ConfirmChannel> {
    if (!this.#publishing) {
      const opening = (async () => {
        const model = await this.#conn.acquire(what);
        return (await openRpcChannel(model, true, this.#o.logger)) as ConfirmChannel;
      })();
      this.#publishing = opening;
      opening.then(
        (ch) =>
          ch.on('close', () => {
            if (this.#publishing === opening) this.#publishing = undefined;
          }),
        () => {
          if (this.#publishing === opening) this.#publishing = undefined;
        },
      );
    }
    return this.#publishing;
  }
}

/** Rejections carry Errors; an AbortSignal's reason (or a thrown value) may be anything. */
export function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value), { cause: value });
}
