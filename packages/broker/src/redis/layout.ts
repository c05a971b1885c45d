import {
  deadLetterKey,
  delayedKey,
  fetchReceiptKey,
  moversKey,
  readyListKey,
  readyListKeys,
  UNACKED_INDEX_KEY,
  UNACKED_KEY,
  UNACKED_MUTEX_KEY,
  wakeKey,
  type PriorityStep,
} from './keys.js';

/**
 * The keys one fetch, settle or restore touches: a queue's (kombu layout) or one shard's of a
 * queue (cluster layout). In the kombu layout `unacked` and friends are kombu's global keys;
 * in the cluster layout every key of a shard carries its hash tag, so each script the broker
 * runs touches one slot.
 */
export interface ShardKeys {
  readonly queue: string;
  /** 0-based shard index (always 0 in the kombu layout). */
  readonly shard: number;
  /** The hash tag (`{celery}`, `{celery{1}`), or '' in the kombu layout. */
  readonly tag: string;
  /** Ready lists for priority steps 0, 3, 6, 9. */
  readonly ready: readonly [string, string, string, string];
  readyFor(step: PriorityStep): string;
  readonly delayed: string;
  readonly wake: string;
  readonly dead: string;
  readonly unacked: string;
  readonly unackedIndex: string;
  readonly unackedMutex: string;
  receipt(token: string): string;
}

/** How the broker names keys: kombu's (the default) or the cluster layout's. */
export interface KeyLayout {
  readonly cluster: boolean;
  /** How many shards the queue is spread over (1 in the kombu layout). */
  shards(queue: string): number;
  /** The keys of one shard of a queue (cached). */
  keys(queue: string, shard: number): ShardKeys;
  /** Every shard's keys of a queue, shard 0 first. */
  allKeys(queue: string): readonly ShardKeys[];
  /** The queue's movers set (one per queue). */
  movers(queue: string): string;
}

const STEP_INDEX: Record<PriorityStep, number> = { 0: 0, 3: 1, 6: 2, 9: 3 };

function kombuShard(queue: string): ShardKeys {
  return {
    queue,
    shard: 0,
    tag: '',
    ready: readyListKeys(queue),
    readyFor: (step) => readyListKey(queue, step),
    delayed: delayedKey(queue),
    wake: wakeKey(queue),
    dead: deadLetterKey(queue),
    unacked: UNACKED_KEY,
    unackedIndex: UNACKED_INDEX_KEY,
    unackedMutex: UNACKED_MUTEX_KEY,
    receipt: fetchReceiptKey,
  };
}

/**
 * The hash tag of a queue's shard: `{<queue>}` for shard 0 (so a queue keeps its keys when it
 * is later sharded), `{<queue>{<i>}` for shard i ≥ 1. Queue names in the cluster layout hold no
 * brace, so no queue's tag is another's shard's.
 */
export function shardTag(queue: string, shard: number): string {
  return shard === 0 ? `{${queue}}` : `{${queue}{${shard}}`;
}

function clusterShard(queue: string, shard: number): ShardKeys {
  const tag = shardTag(queue, shard);
  const ready = [`${tag}:ready`, `${tag}:ready:3`, `${tag}:ready:6`, `${tag}:ready:9`] as const;
  return {
    queue,
    shard,
    tag,
    ready,
    readyFor: (step) => ready[STEP_INDEX[step]]!,
    delayed: `${tag}:delayed`,
    wake: `${tag}:wake`,
    dead: `${tag}:dead`,
    unacked: `${tag}:unacked`,
    unackedIndex: `${tag}:unacked_index`,
    unackedMutex: `${tag}:unacked_mutex`,
    receipt: (token) => `${tag}:fetch:${token}`,
  };
}

/** True when `queue` can name keys in the cluster layout: non-empty, no `{` or `}`. */
export function isValidClusterQueueName(queue: string): boolean {
  return typeof queue === 'string' && queue.length > 0 && !/[{}]/.test(queue);
}

/** kombu's layout, one shard per queue; `keys()` gives the names `keys.ts` defines. */
export function kombuLayout(): KeyLayout {
  const cache = new Map<string, ShardKeys>();
  const keys = (queue: string): ShardKeys => {
    let k = cache.get(queue);
    if (!k) {
      k = kombuShard(queue);
      if (cache.size > 10_000) cache.clear();
      cache.set(queue, k);
    }
    return k;
  };
  return {
    cluster: false,
    shards: () => 1,
    keys,
    allKeys: (queue) => [keys(queue)],
    movers: moversKey,
  };
}

/** The cluster layout: each queue's shards under hash tags of their own. */
export function clusterLayout(shards: (queue: string) => number): KeyLayout {
  const cache = new Map<string, ShardKeys[]>();
  const allKeys = (queue: string): ShardKeys[] => {
    let all = cache.get(queue);
    if (!all) {
      all = Array.from({ length: shards(queue) }, (_, i) => clusterShard(queue, i));
      if (cache.size > 10_000) cache.clear();
      cache.set(queue, all);
    }
    return all;
  };
  return {
    cluster: true,
    shards,
    keys: (queue, shard) => allKeys(queue)[shard] ?? clusterShard(queue, shard),
    allKeys,
    movers: (queue) => `${shardTag(queue, 0)}:movers`,
  };
}
