/**
 * The maths of the delay topology (see `topology.ts` for the exchanges and queues): a delay of
 * `d` milliseconds is written in binary, level `n` holds a message for 2^n ms, and the message
 * waits in the queue of every level whose bit is set, from the highest down. The routing key
 * carries the bits (highest level first), so each level's topic exchange can tell whether the
 * message waits there or passes on: kombu's native delayed delivery, in milliseconds.
 */

/** RabbitMQ's largest TTL is 2^32 − 1 ms, so level 31 (2^31 ms, 24.9 days) is the highest. */
export const MAX_DELAY_LEVELS = 32;

export interface DelayRoute {
  /** The highest level the message enters: it is published to this level's exchange. */
  readonly topLevel: number;
  /** One word per level from `topLevel` down to 0: `1` waits in that level's queue, `0` passes. */
  readonly routingKey: string;
  /** The delay the route gives, in milliseconds. */
  readonly delayMs: number;
  /** True when the wanted delay was longer than the levels cover (`delayMs` is then the most). */
  readonly capped: boolean;
}

/** The route for a delay, or undefined when there is nothing to wait (`delayMs` ≤ 0). */
export function delayRoute(delayMs: number, levels: number): DelayRoute | undefined {
  const wanted = Math.ceil(delayMs);
  if (!(wanted > 0)) return undefined;
  const most = 2 ** levels - 1;
  const capped = wanted > most;
  const d = capped ? most : wanted;
  const bits = d.toString(2);
  return { topLevel: bits.length - 1, routingKey: bits.split('').join('.'), delayMs: d, capped };
}

/** How long level `n`'s queue holds a message, in milliseconds (`x-message-ttl`). */
export function levelTtl(level: number, speedup = 1): number {
  return Math.round(2 ** level / speedup);
}

/**
 * The topic patterns at level `n`: `wait` matches keys whose n-th word from the right is `1`
 * (the message goes to this level's queue), `pass` those where it is `0` (on to level n − 1).
 */
export function levelPatterns(level: number): { wait: string; pass: string } {
  const below = '.*'.repeat(level);
  return { wait: `#.1${below}`, pass: `#.0${below}` };
}
