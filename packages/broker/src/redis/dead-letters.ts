import type { BrokerMessage, DeadLetter, DeadLetterReason, DeadLetterStore } from '@celeriac/core';
import type { BrokerContext } from './context.js';
import { envelopePriority, parseEnvelope } from './envelope.js';
import { priorityStep } from './keys.js';
import type { ShardKeys } from './layout.js';
import { runScript } from './internal/index.js';
import { PURGE_LISTS_SCRIPT } from './scripts/index.js';

/** Entries per replay script call: keeps each call short, since Redis runs scripts alone. */
const REPLAY_CHUNK = 200;

interface StoredEntry {
  id: string;
  queue: string;
  reason: DeadLetterReason;
  deadAt: number;
  /** The list element exactly as it was taken. */
  envelope: string;
}

function parseEntry(raw: string): StoredEntry | undefined {
  try {
    const e = JSON.parse(raw) as Partial<StoredEntry>;
    if (typeof e.id !== 'string' || typeof e.envelope !== 'string') return undefined;
    return {
      id: e.id,
      queue: typeof e.queue === 'string' ? e.queue : '',
      reason: {
        code: typeof e.reason?.code === 'string' ? e.reason.code : 'UNKNOWN',
        message: typeof e.reason?.message === 'string' ? e.reason.message : '',
      },
      deadAt: typeof e.deadAt === 'number' ? e.deadAt : 0,
      envelope: e.envelope,
    };
  } catch {
    return undefined;
  }
}

function entryMessage(envelope: string): BrokerMessage {
  try {
    return parseEnvelope(envelope).message;
  } catch {
    // Dead-lettered because it was not a kombu envelope: show its bytes as they were.
    return {
      body: Buffer.from(envelope),
      contentType: 'application/octet-stream',
      contentEncoding: 'binary',
      headers: {},
      properties: {},
    };
  }
}

/**
 * A queue's dead letters live in the list `_celeriac.dead.<queue>`, newest first, capped at
 * `deadLetterLimit` entries and expiring `deadLetterTtlMs` after the last one arrived. Each entry
 * is JSON `{id, queue, reason: {code, message}, deadAt, envelope}`, the envelope being the
 * kombu list element exactly as it was taken. In the cluster layout each shard of a queue has
 * its own list (`{<queue>}:dead`, …), which these methods read together.
 */
export class RedisDeadLetterStore implements DeadLetterStore {
  readonly #ctx: BrokerContext;

  constructor(ctx: BrokerContext) {
    this.#ctx = ctx;
  }

  /** Newest first. */
  async list(queue: string, options: { limit?: number } = {}): Promise<DeadLetter[]> {
    const limit = options.limit ?? this.#ctx.options.deadLetterLimit;
    if (limit <= 0) return [];
    const shards = this.#ctx.layout.allKeys(queue);
    const lists = await Promise.all(
      shards.map((k) =>
        this.#ctx.run('deadLetters.list', () => this.#ctx.client.lrange(k.dead, 0, limit - 1)),
      ),
    );
    const raws = lists.length === 1 ? lists[0]! : lists.flat();
    const out: DeadLetter[] = [];
    for (const raw of raws) {
      const e = parseEntry(raw);
      if (!e) continue;
      out.push({
        id: e.id,
        queue,
        reason: e.reason,
        deadAt: e.deadAt,
        message: entryMessage(e.envelope),
      });
    }
    if (lists.length === 1) return out;
    return out.sort((a, b) => b.deadAt - a.deadAt).slice(0, limit);
  }

  /**
   * Publishes dead letters back to their queue, oldest first, at the back of the queue like a
   * new message; each is removed from the dead letters in the same atomic step. Entries whose
   * envelope is not a kombu envelope stay: a Python consumer could not read them either.
   */
  async replay(queue: string, ids?: readonly string[]): Promise<number> {
    let replayed = 0;
    for (const keys of this.#ctx.layout.allKeys(queue)) {
      replayed += await this.#replayShard(queue, keys, ids);
    }
    return replayed;
  }

  async #replayShard(queue: string, shard: ShardKeys, ids?: readonly string[]): Promise<number> {
    const key = shard.dead;
    const wanted = ids ? new Set(ids) : undefined;
    const raws = await this.#ctx.run('deadLetters.replay', () =>
      this.#ctx.client.lrange(key, 0, -1),
    );
    const picked: { raw: string; envelope: string }[] = [];
    for (let i = raws.length - 1; i >= 0; i--) {
      const raw = raws[i]!;
      const e = parseEntry(raw);
      if (!e || (wanted && !wanted.has(e.id))) continue;
      try {
        parseEnvelope(e.envelope);
      } catch {
        this.#ctx.options.logger.warn(
          { queue, id: e.id },
          'not replaying a dead letter that is not a kombu envelope',
        );
        continue;
      }
      picked.push({ raw, envelope: e.envelope });
    }
    let replayed = 0;
    for (let i = 0; i < picked.length; i += REPLAY_CHUNK) {
      const keys = [key];
      const index = new Map<string, number>();
      const indexOf = (k: string): number => {
        let n = index.get(k);
        if (n === undefined) {
          keys.push(k);
          n = keys.length;
          index.set(k, n);
        }
        return n;
      };
      const args: (string | number)[] = [this.#ctx.wakeTtl];
      for (const p of picked.slice(i, i + REPLAY_CHUNK)) {
        const list = shard.readyFor(priorityStep(envelopePriority(p.envelope)));
        args.push(p.raw, p.envelope, indexOf(list), indexOf(shard.wake));
      }
      replayed += await this.#ctx.run('deadLetters.replay', () =>
        runScript(this.#ctx.client, this.#ctx.scripts.replay, keys, args),
      );
    }
    return replayed;
  }

  async purge(queue: string): Promise<number> {
    const counts = await Promise.all(
      this.#ctx.layout
        .allKeys(queue)
        .map((k) =>
          this.#ctx.run('deadLetters.purge', () =>
            runScript(this.#ctx.client, PURGE_LISTS_SCRIPT, [k.dead], []),
          ),
        ),
    );
    return counts.reduce((a, b) => a + Number(b), 0);
  }

  async count(queue: string): Promise<number> {
    const counts = await Promise.all(
      this.#ctx.layout
        .allKeys(queue)
        .map((k) => this.#ctx.run('deadLetters.count', () => this.#ctx.client.llen(k.dead))),
    );
    return counts.reduce((a, b) => a + b, 0);
  }
}
