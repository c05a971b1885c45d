import type { Redis } from 'ioredis';
import type { BrokerContext } from './context.js';
import type { ShardKeys } from './layout.js';

/**
 * A cluster-layout consumer's wake-ups. In kombu's layout an idle consumer BRPOPs the wake lists
 * of all its queues at once; on a cluster those lists are in different slots, which one BRPOP
 * cannot watch. So the cluster scripts' `wake()` also PUBLISHes on a channel named after the
 * wake list (`CLUSTER_WAKE`; a cluster broadcasts PUBLISH to every node), and the consumer
 * subscribes to its shards' channels, on a connection of its own, before its first fetch.
 *
 * A wake-up heard at any time sets `woken`; the consumer clears it before each round of
 * fetches and does not wait after a round during which it was set, so a publish between a
 * fetch and the wait is never missed. The wait is still bounded by `idleCheckIntervalMs`,
 * which covers a subscriber that is reconnecting.
 */
export class WakeListener {
  readonly #ctx: BrokerContext;
  readonly #channels: string[];
  #sub: Redis | undefined;
  #woken = false;
  #waiter: (() => void) | undefined;

  constructor(ctx: BrokerContext, units: readonly ShardKeys[]) {
    this.#ctx = ctx;
    this.#channels = [...new Set(units.map((u) => u.wake))];
  }

  get woken(): boolean {
    return this.#woken;
  }

  clear(): void {
    this.#woken = false;
  }

  async start(): Promise<void> {
    const sub = this.#ctx.openBlocking();
    this.#sub = sub;
    sub.on('error', (err: Error) =>
      this.#ctx.options.logger.debug({ err }, 'Redis consumer wake-up subscriber error'),
    );
    sub.on('message', () => {
      this.#woken = true;
      this.#waiter?.();
    });
    await this.#ctx.run('consume', async () => {
      await sub.subscribe(...this.#channels);
    });
  }

  /** Resolves after `ms`, at a wake-up, or at `interrupt()`. */
  wait(ms: number): Promise<void> {
    if (this.#woken) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#waiter = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiter = done;
    });
  }

  interrupt(): void {
    this.#waiter?.();
  }

  async stop(): Promise<void> {
    this.#waiter?.();
    const sub = this.#sub;
    this.#sub = undefined;
    if (sub) await sub.quit().catch(() => sub.disconnect());
  }
}
