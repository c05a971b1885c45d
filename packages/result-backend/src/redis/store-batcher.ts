import type { Delivery, ResultDocument } from '@celeriac/core';
import {
  isClusterClient,
  runScriptReplicated,
  slices,
  TurnBatch,
  type RedisFusedAck,
  type WaitOptions,
} from '@celeriac/broker/redis/internal';
import type { Redis } from 'ioredis';
import { STORE_MANY_SCRIPT } from './scripts.js';

/** The most documents one store-many script call carries; a longer queue is split. */
const MAX_STORES_PER_CALL = 500;

/** A document's slot in the store-many reply: 1 stored, 0 a SUCCESS kept, or what failed. */
export type StoreReply = number | string;

/** A store waiting for the next store-many call. */
export interface PendingStore {
  readonly key: string;
  /** The encoded document: JSON text, or msgpack bytes (ioredis sends a Buffer as is). */
  readonly payload: string | Buffer;
  readonly ttlMs: number;
  readonly doc: ResultDocument;
  /** The delivery to ack once the document is written. */
  readonly delivery: Delivery | undefined;
  /** Its ack commands, when they run in the store's own script call. */
  readonly ack: RedisFusedAck | undefined;
  /** Called instead of the usual completion (the plain store of a fused one's fallback). */
  readonly answered?: (reply: StoreReply | Error) => void;
  resolve: (this: void) => void;
  reject: (this: void, err: unknown) => void;
}

/**
 * Redis commands whose last word may be repeated, `HDEL h a` + `HDEL h b` doing what
 * `HDEL h a b` does, with the fewest words they take.
 */
const MERGEABLE: ReadonlyMap<string, number> = new Map([
  ['HDEL', 3],
  ['ZREM', 3],
  ['SREM', 3],
  ['DEL', 2],
  ['UNLINK', 2],
]);

function mergeable(command: readonly (string | number | Buffer)[]): boolean {
  const name = command[0];
  const least = typeof name === 'string' ? MERGEABLE.get(name.toUpperCase()) : undefined;
  return least !== undefined && command.length >= least;
}

/** Identity of a command's template (all but its last word), or undefined to keep it apart. */
function templateId(command: readonly (string | number | Buffer)[]): string | undefined {
  let id = '';
  for (let w = 0; w < command.length - 1; w++) {
    const word = command[w];
    if (typeof word !== 'string') return undefined; // Buffers and numbers: not worth comparing
    id += `${word.length}:${word}`;
  }
  return id;
}

/**
 * Batches the backend's stores into store-many script calls: every store queued in one turn
 * of the event loop (`process.nextTick`) shares one round trip and one script run, with the
 * ack commands of the deliveries it settles (see `STORE_MANY_LUA`).
 */
export class StoreBatcher {
  readonly #client: Redis;
  readonly #wait: WaitOptions | undefined;
  readonly #perCall: number;
  readonly #answered: (store: PendingStore, reply: StoreReply | Error) => void;
  readonly #turn = new TurnBatch<PendingStore>((pending) => this.#flush(pending));

  /**
   * `answered` receives each store's slot of the reply (or the call's failure); with `wait`,
   * each call is followed by a `WAIT` for that many replicas (`runScriptReplicated`).
   */
  constructor(
    client: Redis,
    wait: WaitOptions | undefined,
    answered: (store: PendingStore, reply: StoreReply | Error) => void,
  ) {
    this.#client = client;
    // A cluster's script call takes keys of one slot: there, one store per call.
    this.#perCall = isClusterClient(client) ? 1 : MAX_STORES_PER_CALL;
    this.#wait = wait;
    this.#answered = answered;
  }

  /** Queues a store for the next call; `answered` overrides the usual completion for it. */
  enqueue(store: PendingStore, answered?: (reply: StoreReply | Error) => void): void {
    this.#turn.add(answered ? { ...store, answered } : store);
  }

  #flush(pending: PendingStore[]): void {
    // One call per TTL (the script takes one): a single one unless stores pass expiresMs.
    const ttl = pending[0]!.ttlMs;
    let groups: PendingStore[][] = [pending];
    if (pending.some((p) => p.ttlMs !== ttl)) {
      const byTtl = new Map<number, PendingStore[]>();
      for (const p of pending) {
        const group = byTtl.get(p.ttlMs);
        if (group) group.push(p);
        else byTtl.set(p.ttlMs, [p]);
      }
      groups = [...byTtl.values()];
    }
    for (const group of groups) {
      for (const batch of slices(group, this.#perCall)) this.#send(batch);
    }
  }

  #send(batch: readonly PendingStore[]): void {
    const keys: string[] = [];
    const templateArgs: (string | number | Buffer)[] = [];
    const docArgs: (string | number | Buffer)[] = [];
    const templates = new Map<string, number>();
    // Three-word commands (HDEL unacked <tag>, ZREM unacked_index <tag>: every fused ack) by
    // their first two words, found without building a template id string per command.
    const short = new Map<string, Map<string, number>>();
    let templateCount = 0;
    for (const p of batch) {
      keys.push(p.key);
      docArgs.push(p.payload);
      const commands = p.ack?.commands;
      if (!commands) {
        docArgs.push(0);
        continue;
      }
      docArgs.push(commands.length);
      for (const command of commands) {
        // A command's template is every word but its last; documents acking the same way
        // (HDEL unacked <tag>) share one.
        const verb = command[0];
        const first = command[1];
        const byFirst =
          command.length === 3 && typeof verb === 'string' && typeof first === 'string'
            ? (short.get(verb) ?? short.set(verb, new Map()).get(verb))
            : undefined;
        let index = byFirst?.get(first as string);
        const id = index !== undefined || byFirst ? undefined : templateId(command);
        if (index === undefined && id !== undefined) index = templates.get(id);
        if (index === undefined) {
          index = ++templateCount;
          if (byFirst) byFirst.set(first as string, index);
          else if (id !== undefined) templates.set(id, index);
          templateArgs.push(mergeable(command) ? 1 : 0, Math.max(0, command.length - 1));
          for (let w = 0; w < command.length - 1; w++) templateArgs.push(command[w]!);
        }
        docArgs.push(index, command[command.length - 1] ?? '');
      }
    }
    runScriptReplicated(
      this.#client,
      STORE_MANY_SCRIPT,
      keys,
      [batch[0]!.ttlMs, templateCount, ...templateArgs, ...docArgs],
      this.#wait,
    ).then(
      (replies) => {
        for (let i = 0; i < batch.length; i++)
          this.#answer(batch[i]!, replies[i] ?? 'store: no reply');
      },
      (err: unknown) => {
        const e = err instanceof Error ? err : new Error(String(err));
        for (const p of batch) this.#answer(p, e);
      },
    );
  }

  #answer(store: PendingStore, reply: StoreReply | Error): void {
    try {
      if (store.answered) store.answered(reply);
      else this.#answered(store, reply);
    } catch (err) {
      // One store's completion (its settled(), say) failing must not leave the others waiting.
      store.reject(err);
    }
  }
}
