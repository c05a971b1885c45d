import { randomUUID } from 'node:crypto';
import type { BrokerMessage, DeadLetterReason, Delivery } from '@celeriac/core';
import type { BrokerContext } from './context.js';
import { envelopePriority, markRedelivered } from './envelope.js';
import { priorityStep } from './keys.js';
import type { ShardKeys } from './layout.js';
import { runScript, type RedisFusedAck } from './internal/index.js';
import { DEAD_LETTER_SCRIPT } from './scripts/index.js';

export type DeliveryState = 'held' | 'settled';

/** Whoever handed the delivery out: told once when it is settled. */
export interface DeliveryOwner {
  deliverySettled(d: RedisDelivery): void;
}

/**
 * One message taken by a consumer. It stays in kombu's `unacked` / `unacked_index` (refreshed
 * while this process lives) until one settle runs; a second settle is ignored.
 *
 * `requeue()` puts the message at the back of its queue (LPUSH), as kombu's
 * `reject(requeue=True)` does, so a message that keeps failing does not starve the others.
 */
export class RedisDelivery implements Delivery {
  readonly message: BrokerMessage;
  readonly queue: string;
  readonly deliveryTag: string;
  readonly redelivered: boolean;
  /** The list element exactly as it was taken. */
  readonly raw: string;
  /** The keys of the queue (or, in the cluster layout, the shard) it was taken from. */
  readonly keys: ShardKeys;
  /** Where `InFlight` keeps this delivery while it is held; -1 when it is not. */
  slot = -1;
  #state: DeliveryState = 'held';
  readonly #ctx: BrokerContext;
  readonly #owner: DeliveryOwner;

  constructor(
    ctx: BrokerContext,
    owner: DeliveryOwner,
    message: BrokerMessage,
    queue: string,
    tag: string,
    redelivered: boolean,
    raw: string,
    keys: ShardKeys,
  ) {
    this.#ctx = ctx;
    this.#owner = owner;
    this.message = message;
    this.queue = queue;
    this.deliveryTag = tag;
    this.redelivered = redelivered;
    this.raw = raw;
    this.keys = keys;
  }

  get state(): DeliveryState {
    return this.#state;
  }

  /** Marks the delivery settled; false when it already was. */
  #settle(): boolean {
    if (this.#state === 'settled') return false;
    this.#state = 'settled';
    this.#owner.deliverySettled(this);
    return true;
  }

  async ack(): Promise<void> {
    if (!this.#settle()) return;
    const tag = this.deliveryTag;
    // One round trip, as kombu's ack pipeline. Sent in the same tick, the two commands share a
    // write, and with auto-pipelining so do all the acks (and fetches) of that tick.
    const client = this.#ctx.client;
    const keys = this.keys;
    await this.#ctx.run('ack', () =>
      Promise.all([client.hdel(keys.unacked, tag), client.zrem(keys.unackedIndex, tag)]),
    );
  }

  async requeue(): Promise<void> {
    if (!this.#settle()) return;
    await this.giveBack('left', true);
  }

  async deadLetter(reason: DeadLetterReason): Promise<void> {
    if (!this.#settle()) return;
    const { deadLetterLimit, deadLetterTtlMs, clock } = this.#ctx.options;
    const entry = deadLetterEntry(this.queue, reason, clock.now(), this.raw);
    const moved = await this.#ctx.run('deadLetter', () =>
      runScript(
        this.#ctx.client,
        DEAD_LETTER_SCRIPT,
        [this.keys.unacked, this.keys.unackedIndex, this.keys.dead],
        [this.deliveryTag, entry, deadLetterLimit, deadLetterTtlMs],
      ),
    );
    if (moved === 0) this.#notInFlight('dead-letter');
  }

  /**
   * kombu's ack as commands, for a result backend on this Redis server and database to run in
   * its own round trip after its write; the delivery stays held until `settled()`. None in
   * the cluster layout: a result's key and the shard's unacked keys are in different slots.
   */
  fusedAck(): RedisFusedAck | undefined {
    if (this.#state === 'settled' || this.#ctx.layout.cluster) return undefined;
    return new KombuFusedAck(this.#ctx.target, this.deliveryTag, this.keys, () => {
      this.#settle();
    });
  }

  /**
   * Settles without the app: puts the message back. `right` (served next) is for messages the
   * broker takes back itself (fetched after a cancel, or held at close), as kombu restores.
   */
  async release(markDelivered: boolean): Promise<boolean> {
    if (!this.#settle()) return false;
    return this.giveBack('right', markDelivered);
  }

  async giveBack(end: 'left' | 'right', markDelivered: boolean): Promise<boolean> {
    let payload = this.raw;
    if (markDelivered) {
      try {
        payload = markRedelivered(this.raw);
      } catch {
        // not JSON: it goes back as it came
      }
    }
    const keys = this.keys;
    const list = keys.readyFor(priorityStep(envelopePriority(this.raw)));
    const n = await this.#ctx.run('requeue', () =>
      runScript(
        this.#ctx.client,
        this.#ctx.scripts.settleBack,
        [keys.unacked, keys.unackedIndex, list, keys.wake],
        [this.deliveryTag, payload, end, this.#ctx.wakeTtl],
      ),
    );
    if (n === 0) this.#notInFlight('requeue');
    return n === 1;
  }

  /** The message was restored to its queue meanwhile (this process looked dead): it lives on there. */
  #notInFlight(what: string): void {
    this.#ctx.options.logger.warn(
      { queue: this.queue, tag: this.deliveryTag },
      `did not ${what} a message that was no longer in flight: a restorer had already put it back on its queue`,
    );
  }
}

/** kombu's ack (HDEL + ZREM of the tag), for a result backend to run in its own round trip. */
class KombuFusedAck implements RedisFusedAck {
  readonly transport = 'redis' as const;
  readonly target: string;
  readonly commands: readonly (readonly string[])[];
  readonly settled: () => void;

  constructor(target: string, tag: string, keys: ShardKeys, settled: () => void) {
    this.target = target;
    this.commands = [
      ['HDEL', keys.unacked, tag],
      ['ZREM', keys.unackedIndex, tag],
    ];
    this.settled = settled;
  }
}

/**
 * A dead-letter list element. The envelope is kept as the exact string that was taken, so a
 * replay publishes the very bytes Celery or Celeriac wrote.
 */
export function deadLetterEntry(
  queue: string,
  reason: DeadLetterReason,
  deadAt: number,
  raw: string,
): string {
  return JSON.stringify({
    id: randomUUID(),
    queue,
    reason: { code: reason.code, message: reason.message },
    deadAt,
    envelope: raw,
  });
}
