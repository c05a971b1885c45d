import { randomUUID } from 'node:crypto';
import type { BrokerContext } from './context.js';
import { runScript } from './internal/index.js';
import { ANNOUNCE_MOVER_SCRIPT, HAS_MOVER_SCRIPT } from './scripts/index.js';

/** How long one announcement holds; a consumer renews it three times within that. */
export const MOVER_TTL_MS = 15_000;
const RENEW_MS = 5_000;
/** How long a client trusts what it learnt about a queue's movers. */
const CHECK_CACHE_MS = 1_000;

/**
 * A Redis consumer's announcement that it moves its queues' delayed messages when due
 * (`_celeriac.movers.<queue>`). Made before the consumer takes anything, renewed every 5 s,
 * withdrawn on cancel; a consumer that dies lapses within 15 s.
 */
export class MoverAnnouncement {
  readonly #ctx: BrokerContext;
  readonly #keys: string[];
  readonly #id = randomUUID();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(ctx: BrokerContext, queues: readonly string[]) {
    this.#ctx = ctx;
    this.#keys = queues.map((q) => ctx.layout.movers(q));
  }

  async start(): Promise<void> {
    await this.#announce();
    if (this.#stopped) return;
    this.#timer = setInterval(() => {
      this.#announce().catch((err: unknown) =>
        this.#ctx.options.logger.warn(
          { err: this.#ctx.translate(err) },
          'Redis consumer: renewing its delayed-message announcement failed; retrying in 5 s',
        ),
      );
    }, RENEW_MS);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await Promise.all(
      this.#keys.map((k) => this.#ctx.client.zrem(k, this.#id).catch(() => undefined)),
    );
  }

  async #announce(): Promise<void> {
    const args = [this.#id, MOVER_TTL_MS];
    // A cluster's movers sets are in different slots: one script call each.
    const groups = this.#ctx.layout.cluster ? this.#keys.map((k) => [k]) : [this.#keys];
    await Promise.all(
      groups.map((keys) =>
        this.#ctx.run('announce', () =>
          runScript(this.#ctx.client, ANNOUNCE_MOVER_SCRIPT, keys, args),
        ),
      ),
    );
  }
}

/**
 * Whether a live Celeriac consumer moves a queue's delayed messages, asked once a second at
 * most per queue (concurrent asks share one round trip).
 */
export class MoverCheck {
  readonly #ctx: BrokerContext;
  readonly #known = new Map<string, { value: Promise<boolean>; until: number }>();

  constructor(ctx: BrokerContext) {
    this.#ctx = ctx;
  }

  has(queue: string): Promise<boolean> {
    const now = Date.now();
    const known = this.#known.get(queue);
    if (known && known.until > now) return known.value;
    const value = this.#ctx
      .run('hasDelayedMover', () =>
        runScript(this.#ctx.client, HAS_MOVER_SCRIPT, [this.#ctx.layout.movers(queue)], []),
      )
      .then((n) => Number(n) > 0);
    this.#known.set(queue, { value, until: now + CHECK_CACHE_MS });
    value.catch(() => this.#known.delete(queue));
    return value;
  }
}
