import type { Redis } from 'ioredis';
import type { KeyLayout } from './layout.js';
import type { CompiledRedisBrokerOptions } from './options.js';
import type { WakingScripts } from './scripts/index.js';

/**
 * What the broker shares with its consumers, deliveries and dead-letter store. Kept apart from
 * `RedisBroker` so those modules never import the broker (no cycles).
 */
export interface BrokerContext {
  readonly client: Redis;
  readonly options: CompiledRedisBrokerOptions;
  /** `redis://host:port/db` of the command connection. */
  readonly target: string;
  /** Runs a command on behalf of `what`, translating connection errors, failing when closed. */
  run<T>(what: string, fn: () => Promise<T>): Promise<T>;
  /** Translates an ioredis error into what the broker's callers see. */
  translate(err: unknown): Error;
  /** Opens a dedicated connection for blocking commands (closed by whoever asked). */
  openBlocking(): Redis;
  /** kombu's key layout, or the cluster layout's (`layout.ts`). */
  readonly layout: KeyLayout;
  /** The scripts that wake consumers, as the layout needs them. */
  readonly scripts: WakingScripts;
  /** Wake lists get this TTL (ms) whenever a token is left in them. */
  readonly wakeTtl: number;
}
