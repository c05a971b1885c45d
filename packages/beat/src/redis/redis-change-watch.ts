import { openRedisClient } from '@celeriac/broker/redis/internal';
import type { Redis } from 'ioredis';
import { ChangeListeners } from '../store/change-listeners.js';
import type { EntryChange, EntryChangeKind, StoreWatch } from '../store/schedule-store.js';

const KINDS: ReadonlySet<string> = new Set<EntryChangeKind>([
  'added',
  'modified',
  'removed',
  'paused',
  'resumed',
  'cleared',
]);
const RESUBSCRIBE_RETRY_MS = 500;

/** A change notice as the scripts publish it (`cjson.encode({kind, name, origin})`), or undefined. */
export function parseChange(message: string): EntryChange | undefined {
  let v: unknown;
  try {
    v = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const { kind, name, origin } = v as Record<string, unknown>;
  if (typeof kind !== 'string' || !KINDS.has(kind)) return undefined;
  return {
    kind: kind as EntryChangeKind,
    ...(typeof name === 'string' ? { name } : {}),
    ...(typeof origin === 'string' ? { origin } : {}),
  };
}

/**
 * The `watch` side of the Redis store: one subscriber connection (opened on the first watch,
 * closed with the last) on the namespace's change channel, fanning notices out to the
 * listeners. After a reconnect it subscribes again and announces a nameless `modified`: the
 * notices published while it was away are lost, so its watchers read the store again.
 */
export class RedisChangeWatch {
  readonly #client: Redis;
  readonly #channel: string;
  readonly #onChange: (change: EntryChange) => void;
  readonly #listeners = new ChangeListeners(() => void this.#stop());
  #subscriber: Redis | undefined;
  #subscribed: Promise<void> | undefined;
  #retry: NodeJS.Timeout | undefined;

  /** `onChange` sees every notice first (the store drops its cached copy of the entry). */
  constructor(client: Redis, channel: string, onChange: (change: EntryChange) => void) {
    this.#client = client;
    this.#channel = channel;
    this.#onChange = onChange;
  }

  async watch(listener: (change: EntryChange) => void): Promise<StoreWatch> {
    const handle = this.#listeners.add(listener);
    try {
      await (this.#subscribed ??= this.#start());
    } catch (err) {
      await handle.close();
      throw err;
    }
    return handle;
  }

  #deliver(change: EntryChange): void {
    this.#onChange(change);
    this.#listeners.emit(change);
  }

  async #start(): Promise<void> {
    // CLIENT LIST names it after the store's connection: `celeriac-beat-watch` by default.
    const sub = openRedisClient(this.#client, {
      connectionName: `${this.#client.options.connectionName ?? 'celeriac-beat'}-watch`,
      lazyConnect: false,
      overrides: { autoResubscribe: false },
    });
    this.#subscriber = sub;
    let everReady = false;
    sub.on('error', () => undefined); // ioredis reconnects; 'ready' renews the subscription
    sub.on('message', (_channel: string, message: string) => {
      const change = parseChange(message);
      if (change) this.#deliver(change);
    });
    sub.on('ready', () => {
      if (everReady) void this.#renew(sub);
      everReady = true;
    });
    try {
      await sub.subscribe(this.#channel);
    } catch (err) {
      this.#subscribed = undefined;
      this.#subscriber = undefined;
      await quit(sub);
      throw err;
    }
    // Every listener left while the SUBSCRIBE was under way.
    if (this.#listeners.size === 0 && this.#subscriber === sub) await this.#stop();
  }

  async #renew(sub: Redis): Promise<void> {
    clearTimeout(this.#retry);
    if (this.#subscriber !== sub) return;
    try {
      await sub.subscribe(this.#channel);
      this.#deliver({ kind: 'modified' });
    } catch {
      if (this.#subscriber !== sub) return;
      this.#retry = setTimeout(() => void this.#renew(sub), RESUBSCRIBE_RETRY_MS);
      this.#retry.unref();
    }
  }

  async #stop(): Promise<void> {
    clearTimeout(this.#retry);
    const sub = this.#subscriber;
    this.#subscriber = undefined;
    this.#subscribed = undefined;
    if (sub) await quit(sub);
  }

  /** Drops every listener and the subscriber connection. Idempotent. */
  async close(): Promise<void> {
    this.#listeners.clear();
    await this.#stop();
  }
}

/** Closes a connection: QUIT when it is up, else at once. */
async function quit(conn: Redis): Promise<void> {
  if (conn.status === 'ready') {
    try {
      await conn.quit();
      return;
    } catch {
      // fall through: the connection broke while quitting
    }
  }
  conn.disconnect(false);
}
