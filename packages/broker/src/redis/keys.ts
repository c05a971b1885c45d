/**
 * Every Redis key the Redis broker reads or writes is named here, and nowhere else.
 *
 * The first group is kombu's layout (kombu 5.x `transport/redis.py`), which Python Celery
 * workers and clients read and write too, so these names and the priority mapping must stay
 * byte-for-byte what kombu computes. The second group is Celeriac's own (`_celeriac.` prefix,
 * in the style of kombu's `_kombu.`): kombu never reads them.
 */

/** kombu's `Channel.sep`: joins a queue and its priority step, and the parts of a binding. */
export const KOMBU_SEP = '\x06\x16';

/** kombu's `PRIORITY_STEPS`: priority 0..9 is stored in one of four lists. */
export const PRIORITY_STEPS = [0, 3, 6, 9] as const;
export type PriorityStep = (typeof PRIORITY_STEPS)[number];

/** kombu's `unacked_key`: hash, delivery tag → JSON `[envelope, exchange, routing_key]`. */
export const UNACKED_KEY = 'unacked';
/** kombu's `unacked_index_key`: sorted set, delivery tag → delivery time in epoch seconds. */
export const UNACKED_INDEX_KEY = 'unacked_index';
/** kombu's `unacked_mutex_key`: the lock whoever restores stale in-flight messages holds. */
export const UNACKED_MUTEX_KEY = 'unacked_mutex';

/**
 * The priority a message is filed under, as kombu's `_get_message_priority` reads it:
 * `int(properties['priority'])` clamped to 0..9, and 0 when missing or not a number.
 */
export function messagePriority(priority: unknown): number {
  let n: number;
  if (typeof priority === 'number') n = priority;
  else if (typeof priority === 'string' && /^\s*[+-]?\d+\s*$/.test(priority)) n = Number(priority);
  else if (typeof priority === 'boolean') n = priority ? 1 : 0;
  else return 0;
  if (!Number.isFinite(n)) return 0;
  return Math.max(0, Math.min(9, Math.trunc(n)));
}

/**
 * kombu's `Channel.priority(n)`: `steps[bisect_right(steps, n) - 1]`, so 0-2 → 0, 3-5 → 3,
 * 6-8 → 6, 9 → 9. Lower steps are consumed first.
 */
export function priorityStep(priority: unknown): PriorityStep {
  const n = messagePriority(priority);
  let step: PriorityStep = 0;
  for (const s of PRIORITY_STEPS) if (s <= n) step = s;
  return step;
}

/** kombu's `_q_for_pri`: the bare queue name for step 0, `<queue>\x06\x16<step>` otherwise. */
export function readyListKey(queue: string, step: PriorityStep): string {
  return step === 0 ? queue : `${queue}${KOMBU_SEP}${step}`;
}

/** The queue's ready lists, lowest step (served first) first. */
export function readyListKeys(queue: string): [string, string, string, string] {
  return [
    readyListKey(queue, 0),
    readyListKey(queue, 3),
    readyListKey(queue, 6),
    readyListKey(queue, 9),
  ];
}

/** kombu's `keyprefix_queue % exchange`: the set of an exchange's bindings. */
export function bindingSetKey(exchange: string): string {
  return `_kombu.binding.${exchange}`;
}

/** A member of the binding set, as kombu's `_queue_bind` writes it: `rk, pattern, queue` joined by sep. */
export function bindingMember(routingKey: string, queue: string, pattern = ''): string {
  return [routingKey, pattern, queue].join(KOMBU_SEP);
}

/** Parses a binding-set member back into its parts (kombu's `get_table`). */
export function parseBindingMember(
  member: string,
): { routingKey: string; pattern: string; queue: string } | undefined {
  const parts = member.split(KOMBU_SEP);
  if (parts.length !== 3) return undefined;
  const [routingKey, pattern, queue] = parts as [string, string, string];
  return { routingKey, pattern, queue };
}

/** Celeriac: sorted set of a queue's delayed messages, score = due time in epoch ms. */
export function delayedKey(queue: string): string {
  return `_celeriac.delayed.${queue}`;
}

/**
 * Celeriac: sorted set of the live Celeriac consumers of a queue, which move its delayed
 * messages when due (member: consumer id, score: when its announcement lapses, Redis time in
 * ms). A client publishing a delayed message to a queue with none holds it in the queue
 * itself, with its `eta` header, as Celery does, so Python workers run it.
 */
export function moversKey(queue: string): string {
  return `_celeriac.movers.${queue}`;
}

/**
 * Celeriac: a queue's wake-up list. Celeriac publishers keep one token in it while the queue
 * has ready messages; idle consumers block on it (see `consumer.ts`). Capped at one element
 * and given a TTL.
 */
export function wakeKey(queue: string): string {
  return `_celeriac.wake.${queue}`;
}

/**
 * Celeriac: the receipt of one fetch (the tags it took), kept briefly so that the same fetch
 * sent again after its reply was lost (a dropped connection; ioredis resends it) returns
 * those messages instead of leaving them in `unacked` with nobody holding them.
 */
export function fetchReceiptKey(token: string): string {
  return `_celeriac.fetch.${token}`;
}

/** Celeriac: a queue's dead letters, newest first, capped and with a TTL. */
export function deadLetterKey(queue: string): string {
  return `_celeriac.dead.${queue}`;
}

/** Rejects queue names that would collide with kombu's key layout. */
export function isValidQueueName(queue: string): boolean {
  return typeof queue === 'string' && queue.length > 0 && !queue.includes(KOMBU_SEP);
}
