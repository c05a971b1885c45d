import { randomUUID } from 'node:crypto';
import { Slots } from '@celeriac/core/internal';
import type { BrokerContext } from './context.js';
import type { RedisDelivery } from './delivery.js';
import { markRedelivered } from './envelope.js';
import { bindingSetKey, parseBindingMember, priorityStep } from './keys.js';
import type { ShardKeys } from './layout.js';
import { runScript } from './internal/index.js';
import { RELEASE_LOCK_SCRIPT } from './scripts/index.js';
import { keyIndexer } from './key-index.js';

/**
 * How long a restorer may hold kombu's `unacked_mutex` (SET NX PX). A restore pass takes a few
 * round trips; the expiry only matters if the holder dies mid-pass, and then bounds how long
 * every restorer (Python's included) is locked out. kombu's own default is 300 s.
 */
const MUTEX_EXPIRE_MS = 60_000;
/** Tags per ZADD when refreshing. */
const REFRESH_CHUNK = 500;

/**
 * The broker's side of kombu's visibility timeout. It tracks what this process holds,
 * refreshes those `unacked_index` scores so no restorer (Celeriac's or kombu's
 * `restore_visible`) hands them to someone else while this process lives, and, while a
 * consumer is active, restores other consumers' stale messages. In the cluster layout each
 * shard has its own `unacked` keys and lock: refreshes go per shard, and restores visit every
 * shard an active consumer of this process takes from.
 */
export class InFlight {
  readonly #ctx: BrokerContext;
  readonly #onError: (err: Error) => void;
  /** What this process holds: `Slots`, not a Map keyed by tag, which would churn (see there). */
  readonly #held = new Slots<RedisDelivery>();
  readonly #unparseable = new Set<string>();
  #activeConsumers = 0;
  /** Cluster layout: the shards active consumers take from, with how many consumers each. */
  readonly #watched = new Map<ShardKeys, number>();
  #refreshTimer: NodeJS.Timeout | undefined;
  #restoreTimer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;
  #restoring: Promise<number> | undefined;

  constructor(ctx: BrokerContext, onError: (err: Error) => void) {
    this.#ctx = ctx;
    this.#onError = onError;
  }

  get size(): number {
    return this.#held.size;
  }

  add(d: RedisDelivery): void {
    this.#held.add(d);
    this.#ensureRefreshTimer();
  }

  remove(d: RedisDelivery): void {
    this.#held.delete(d);
  }

  held(): RedisDelivery[] {
    return this.#held.values();
  }

  #heldTags(): Set<string> {
    return new Set(this.#held.values().map((d) => d.deliveryTag));
  }

  consumerStarted(units: readonly ShardKeys[] = []): void {
    this.#activeConsumers += 1;
    if (this.#ctx.layout.cluster) {
      for (const u of units) this.#watched.set(u, (this.#watched.get(u) ?? 0) + 1);
    }
    if (!this.#restoreTimer) {
      this.#restoreTimer = setInterval(() => {
        void this.restore().catch((err: unknown) => this.#onError(this.#ctx.translate(err)));
      }, this.#ctx.options.restoreIntervalMs);
      this.#restoreTimer.unref();
      // A consumer that starts also looks once right away, as kombu does on its first poll.
      void this.restore().catch((err: unknown) => this.#onError(this.#ctx.translate(err)));
    }
  }

  consumerStopped(units: readonly ShardKeys[] = []): void {
    this.#activeConsumers = Math.max(0, this.#activeConsumers - 1);
    for (const u of units) {
      const n = (this.#watched.get(u) ?? 0) - 1;
      if (n > 0) this.#watched.set(u, n);
      else this.#watched.delete(u);
    }
    if (this.#activeConsumers === 0 && this.#restoreTimer) {
      clearInterval(this.#restoreTimer);
      this.#restoreTimer = undefined;
    }
  }

  #ensureRefreshTimer(): void {
    if (this.#refreshTimer) return;
    this.#refreshTimer = setInterval(() => {
      if (this.#held.size === 0) return;
      void this.refresh().catch((err: unknown) => this.#onError(this.#ctx.translate(err)));
    }, this.#ctx.options.refreshIntervalMs);
    this.#refreshTimer.unref();
  }

  /** Stops the timers and waits for a pass under way. */
  async stop(): Promise<void> {
    clearInterval(this.#refreshTimer);
    clearInterval(this.#restoreTimer);
    this.#refreshTimer = undefined;
    this.#restoreTimer = undefined;
    await Promise.allSettled([this.#refreshing, this.#restoring]);
  }

  /** Moves the `unacked_index` score of every held message to now: one ZADD XX per 500. */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#refresh().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #refresh(): Promise<void> {
    // Per index key: kombu's one `unacked_index`, or each cluster shard's.
    const byIndex = new Map<string, Set<string>>();
    for (const d of this.#held.values()) {
      let tags = byIndex.get(d.keys.unackedIndex);
      if (!tags) byIndex.set(d.keys.unackedIndex, (tags = new Set()));
      tags.add(d.deliveryTag);
    }
    if (byIndex.size === 0) return;
    const score = String(this.#ctx.options.clock.now() / 1000);
    const client = this.#ctx.client;
    await this.#ctx.run('refresh', async () => {
      const pending: Promise<unknown>[] = [];
      for (const [index, held] of byIndex) {
        const tags = [...held];
        for (let i = 0; i < tags.length; i += REFRESH_CHUNK) {
          const args: string[] = [];
          for (const tag of tags.slice(i, i + REFRESH_CHUNK)) args.push(score, tag);
          // XX: never re-creates the index entry of a message someone already settled or restored.
          pending.push(client.zadd(index, 'XX', ...args));
        }
      }
      await Promise.all(pending);
    });
  }

  /**
   * Restores in-flight messages whose index score is older than the visibility timeout and
   * that this process does not hold. Returns how many went back to their queues.
   */
  restore(): Promise<number> {
    this.#restoring ??= this.#restore().finally(() => {
      this.#restoring = undefined;
    });
    return this.#restoring;
  }

  async #restore(): Promise<number> {
    const { layout } = this.#ctx;
    if (!layout.cluster) return this.#restoreShard(layout.keys('celery', 0), undefined);
    let restored = 0;
    for (const shard of [...this.#watched.keys()])
      restored += await this.#restoreShard(shard, shard);
    return restored;
  }

  /**
   * One restore pass over `keys`' unacked records: kombu's global ones (`own` undefined: each
   * message goes back where its exchange and routing key route it, as kombu restores), or one
   * cluster shard's (`own`: back to that shard).
   */
  async #restoreShard(keys: ShardKeys, own: ShardKeys | undefined): Promise<number> {
    const { client, options } = this.#ctx;
    const ceiling = (options.clock.now() - options.visibilityTimeoutMs) / 1000;
    // The common case, nothing stale, costs this one command.
    const stale = await this.#ctx.run('restore', () =>
      client.zrangebyscore(keys.unackedIndex, '-inf', ceiling, 'LIMIT', 0, options.restoreLimit),
    );
    const held = this.#heldTags();
    const candidates = stale.filter((tag) => !held.has(tag) && !this.#unparseable.has(tag));
    if (candidates.length === 0) return 0;

    const token = randomUUID();
    const locked = await this.#ctx.run('restore', () =>
      client.set(keys.unackedMutex, token, 'PX', MUTEX_EXPIRE_MS, 'NX'),
    );
    if (locked !== 'OK') return 0; // someone else (maybe Python) is restoring
    try {
      return await this.#restoreLocked(keys, own, candidates, ceiling);
    } finally {
      await this.#ctx
        .run('restore', () => runScript(client, RELEASE_LOCK_SCRIPT, [keys.unackedMutex], [token]))
        .catch((err: unknown) => this.#onError(this.#ctx.translate(err)));
    }
  }

  async #restoreLocked(
    shard: ShardKeys,
    own: ShardKeys | undefined,
    tags: string[],
    ceiling: number,
  ): Promise<number> {
    const { client, options, wakeTtl, layout } = this.#ctx;
    const values = await this.#ctx.run('restore', () => client.hmget(shard.unacked, ...tags));
    const keys: string[] = [shard.unacked, shard.unackedIndex];
    const indexOf = keyIndexer(keys);
    const bindings = new Map<string, Promise<string[]>>();
    const lookup = (exchange: string, routingKey: string): Promise<string[]> => {
      // kombu's _lookup: the anonymous exchange routes by queue name; a named one through its
      // binding set (direct: the bindings whose routing key matches).
      if (exchange === '') return Promise.resolve([routingKey]);
      let members = bindings.get(exchange);
      if (!members) {
        members = this.#ctx.run('restore', () => client.smembers(bindingSetKey(exchange)));
        bindings.set(exchange, members);
      }
      return members.then((ms) => {
        const queues = ms
          .map(parseBindingMember)
          .filter((b) => b !== undefined && b.routingKey === routingKey)
          .map((b) => b!.queue);
        return queues.length > 0 ? [...new Set(queues)] : [routingKey];
      });
    };

    const args: (string | number)[] = [String(ceiling), wakeTtl];
    // Newest first: with RPUSH the oldest ends up at the consuming end, as kombu restores.
    for (let i = tags.length - 1; i >= 0; i--) {
      const tag = tags[i]!;
      const value = values[i];
      if (value === null || value === undefined) {
        args.push(tag, '', '', 0);
        continue;
      }
      let entry: unknown;
      try {
        entry = JSON.parse(value);
      } catch {
        entry = undefined;
      }
      if (!Array.isArray(entry) || entry.length < 3 || typeof entry[2] !== 'string') {
        this.#unparseable.add(tag);
        options.logger.error(
          { tag, entry: value.slice(0, 200) },
          'cannot restore an unacked entry that is not [envelope, exchange, routing_key]; left in place',
        );
        continue;
      }
      const [env, exchange, routingKey] = entry as [unknown, unknown, string];
      let payload: string;
      let priority: unknown;
      if (typeof env === 'string') {
        payload = env; // stored as a string because it was not JSON: goes back as it came
      } else {
        payload = markRedelivered(JSON.stringify(env));
        priority = (env as { properties?: { priority?: unknown } } | null)?.properties?.priority;
      }
      const to = own
        ? [own]
        : (await lookup(typeof exchange === 'string' ? exchange : '', routingKey)).map((q) =>
            layout.keys(q, 0),
          );
      args.push(tag, value, payload, to.length);
      for (const k of to) {
        args.push(indexOf(k.readyFor(priorityStep(priority))), indexOf(k.wake));
      }
    }
    const restored = await this.#ctx.run('restore', () =>
      runScript(client, this.#ctx.scripts.restore, keys, args),
    );
    if (restored > 0) {
      options.logger.warn(
        { restored },
        `restored ${restored} in-flight message(s) older than the visibility timeout`,
      );
    }
    return restored;
  }
}
