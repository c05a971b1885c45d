import { createHash, randomUUID } from 'node:crypto';
import type { BrokerMessage, DeadLetter, DeadLetterReason, DeadLetterStore } from '@celeriac/core';
import type { Channel, GetMessage } from 'amqplib';
import { fromAmqpMessage, toPublishOptions } from './codec.js';
import { channelErrorCode } from './errors.js';
import type { AmqpContext } from './context.js';
import type { PublishJob } from './publisher.js';
import { DEAD_LETTER_EXCHANGE, deadLetterQueue } from './topology.js';

/** The headers a dead letter carries besides the message's own. */
export const DEAD_LETTER_HEADERS = {
  id: 'x-celeriac-dead-id',
  code: 'x-celeriac-dead-code',
  message: 'x-celeriac-dead-message',
  at: 'x-celeriac-dead-at',
  queue: 'x-celeriac-dead-queue',
} as const;

/**
 * The copy of a message that goes to `queue`'s dead letters: routed through the exchange
 * `celeriac.dead` with the queue name as routing key (as RabbitMQ's own dead-lettering does when
 * a policy names that exchange), with the reason in its headers. `expiration` is dropped so the
 * dead letter lives as long as the dead-letter queue keeps it.
 */
export function deadLetterJob(
  ctx: Pick<AmqpContext, 'topology' | 'options'>,
  queue: string,
  message: BrokerMessage,
  reason: DeadLetterReason,
): PublishJob {
  const { expiration: _dropped, ...properties } = message.properties;
  const headers = {
    [DEAD_LETTER_HEADERS.id]: randomUUID(),
    [DEAD_LETTER_HEADERS.code]: reason.code,
    [DEAD_LETTER_HEADERS.message]: reason.message,
    [DEAD_LETTER_HEADERS.at]: ctx.options.clock.now(),
    [DEAD_LETTER_HEADERS.queue]: queue,
  };
  return {
    queue,
    exchange: DEAD_LETTER_EXCHANGE,
    routingKey: queue,
    content: message.body,
    options: toPublishOptions({ ...message, properties }, headers),
    prepare: () => ctx.topology.ensureQueue(queue),
  };
}

/**
 * A queue's dead letters are the messages of `celeriac.dead.<queue>`, oldest first, capped at
 * `deadLetterLimit` (the oldest are dropped) and kept `deadLetterTtlMs`. `list()` and `replay()`
 * take the messages with `basic.get` on a channel of their own and give back what they do not
 * remove with a nack before they return (a crash in between requeues them too, as the channel
 * dies), so nothing is lost; a listing that runs while another
 * takes messages sees fewer.
 *
 * Messages that RabbitMQ itself dead-lettered into that queue (a policy with
 * `dead-letter-exchange: celeriac.dead`) are listed too, with the reason from `x-death`.
 */
export class AmqpDeadLetterStore implements DeadLetterStore {
  readonly #ctx: AmqpContext;

  constructor(ctx: AmqpContext) {
    this.#ctx = ctx;
  }

  async list(queue: string, options: { limit?: number } = {}): Promise<DeadLetter[]> {
    const limit = options.limit ?? this.#ctx.options.deadLetterLimit;
    if (limit <= 0) return [];
    return this.#withGetChannel('deadLetters.list', [], async (ch) => {
      const out: DeadLetter[] = [];
      while (out.length < limit) {
        const m = await ch.get(deadLetterQueue(queue), { noAck: false });
        if (m === false) break;
        out.push(toDeadLetter(queue, m));
      }
      await settled(ch, queue);
      return out;
    });
  }

  /**
   * Publishes dead letters back to their queue, at its back like a new message, and removes each
   * from the dead letters once RabbitMQ confirmed its copy (at least once: a crash in between
   * leaves it in both).
   */
  async replay(queue: string, ids?: readonly string[]): Promise<number> {
    const wanted = ids ? new Set(ids) : undefined;
    if (wanted?.size === 0) return 0;
    return this.#withGetChannel('deadLetters.replay', 0, async (ch) => {
      const picked: { raw: GetMessage; message: BrokerMessage }[] = [];
      for (;;) {
        const m = await ch.get(deadLetterQueue(queue), { noAck: false });
        if (m === false) break;
        const dl = toDeadLetter(queue, m);
        if (!wanted || wanted.has(dl.id)) picked.push({ raw: m, message: dl.message });
      }
      if (picked.length > 0) {
        await this.#ctx.publish(picked.map((p) => ({ queue, message: p.message })));
        for (const p of picked) ch.ack(p.raw);
      }
      await settled(ch, queue);
      return picked.length;
    });
  }

  async purge(queue: string): Promise<number> {
    return this.#ctx.admin.run('deadLetters.purge', async (ch) => {
      try {
        return (await ch.purgeQueue(deadLetterQueue(queue))).messageCount;
      } catch (err) {
        if (channelErrorCode(err) === 404) return 0;
        throw err;
      }
    });
  }

  async count(queue: string): Promise<number> {
    return this.#ctx.admin.run('deadLetters.count', async (ch) => {
      try {
        return (await ch.checkQueue(deadLetterQueue(queue))).messageCount;
      } catch (err) {
        if (channelErrorCode(err) === 404) return 0;
        throw err;
      }
    });
  }

  /** Runs `fn` on a channel of its own, closed afterwards (which requeues what it did not ack). */
  async #withGetChannel<T>(
    what: string,
    ifMissing: T,
    fn: (ch: Channel) => Promise<T>,
  ): Promise<T> {
    const model = await this.#ctx.adminConnection.acquire(what);
    const ch = await model.createChannel();
    ch.on('error', () => undefined);
    try {
      return await fn(ch);
    } catch (err) {
      if (channelErrorCode(err) === 404) return ifMissing;
      throw err;
    } finally {
      await ch.close().catch(() => undefined);
    }
  }
}

/**
 * Gives back every message `ch` took and did not ack, and waits until the queue has them again.
 * Acks and nacks have no reply in AMQP, and closing the channel requeues asynchronously, so a
 * `count()` right after a listing could miss the messages it took. A passive declare on the
 * same channel reaches the queue after the nacks (RabbitMQ keeps a channel's messages to a
 * queue in order), so when it answers they are back.
 */
async function settled(ch: Channel, queue: string): Promise<void> {
  ch.nackAll(true);
  await ch.checkQueue(deadLetterQueue(queue));
}

/** A dead letter as listed: Celeriac's headers become the reason, the rest is the message. */
export function toDeadLetter(queue: string, raw: GetMessage): DeadLetter {
  const message = fromAmqpMessage(raw);
  const h = message.headers;
  const str = (k: string): string | undefined => {
    const v = h[k];
    return typeof v === 'string' ? v : undefined;
  };
  let id = str(DEAD_LETTER_HEADERS.id);
  let reason: DeadLetterReason;
  let deadAt =
    typeof h[DEAD_LETTER_HEADERS.at] === 'number' ? (h[DEAD_LETTER_HEADERS.at] as number) : 0;
  const code = str(DEAD_LETTER_HEADERS.code);
  if (code !== undefined) {
    reason = { code, message: str(DEAD_LETTER_HEADERS.message) ?? '' };
  } else {
    // Dead-lettered by RabbitMQ (a policy pointing at celeriac.dead): read x-death.
    const death = (Array.isArray(h['x-death']) ? h['x-death'][0] : undefined) as
      Record<string, unknown> | undefined;
    const why = typeof death?.['reason'] === 'string' ? death['reason'] : 'unknown';
    const from = typeof death?.['queue'] === 'string' ? death['queue'] : queue;
    reason = {
      code: `RABBITMQ_${why.toUpperCase()}`,
      message: `RabbitMQ dead-lettered the message from queue "${from}" (${why})`,
    };
    if (death?.['time'] instanceof Date) deadAt = death['time'].getTime();
  }
  id ??= fingerprint(raw);
  for (const k of Object.values(DEAD_LETTER_HEADERS)) delete h[k];
  return { id, queue, reason, deadAt, message };
}

/** A stable id for a message that has none: its bytes, properties and headers. */
function fingerprint(raw: GetMessage): string {
  const { headers, ...props } = raw.properties as unknown as Record<string, unknown>;
  return createHash('sha1')
    .update(raw.content)
    .update(JSON.stringify(props))
    .update(JSON.stringify(headers ?? {}))
    .digest('hex')
    .slice(0, 32);
}
