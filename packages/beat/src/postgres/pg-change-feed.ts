import type { Client, Notification } from 'pg';
import type { EntryChange } from '../store/schedule-store.js';

/** What a NOTIFY payload carries: the change and the namespace it happened in. */
export interface ChangePayload extends EntryChange {
  readonly ns: string;
}

const KINDS: ReadonlySet<string> = new Set([
  'added',
  'modified',
  'removed',
  'paused',
  'resumed',
  'cleared',
]);

function parsePayload(text: string | undefined): ChangePayload | undefined {
  if (text === undefined) return undefined;
  try {
    const p = JSON.parse(text) as Partial<ChangePayload> | null;
    if (typeof p?.ns !== 'string' || typeof p.kind !== 'string' || !KINDS.has(p.kind))
      return undefined;
    return p as ChangePayload;
  } catch {
    return undefined;
  }
}

export interface ChangeFeedOptions {
  /** Opens a new, unconnected client (one for LISTEN alone: a pooled one would be reused). */
  readonly open: () => Client;
  readonly channel: string;
  readonly namespace: string;
  /** Translates a failure of the first connection. */
  readonly fail: (err: unknown) => Error;
  /** Records a failure after the first connection, which is retried. */
  readonly onError: (err: unknown) => void;
}

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5000;

/**
 * The watchers of one store, fed by one dedicated connection that LISTENs on the store's
 * channel. The writes NOTIFY in their own transaction, so a change is announced exactly when it
 * is committed, to every process. When the connection drops, it is opened again with backoff
 * and each watcher is told `{ kind: 'modified' }` without a name: changes made meanwhile were
 * not seen, so read the store again.
 */
export class PgChangeFeed {
  readonly #o: ChangeFeedOptions;
  readonly #listeners = new Set<(change: EntryChange) => void>();
  #client: Client | undefined;
  #connecting: Promise<void> | undefined;
  #retry: NodeJS.Timeout | undefined;
  #retryMs = RETRY_MIN_MS;
  /** The connection dropped since the last one was open: changes may have been missed. */
  #missed = false;
  #closed = false;

  constructor(options: ChangeFeedOptions) {
    this.#o = options;
  }

  /** Adds a watcher; resolves once the channel is listened to. */
  async add(listener: (change: EntryChange) => void): Promise<{ close(): Promise<void> }> {
    const wrapped = (change: EntryChange): void => listener(change);
    this.#listeners.add(wrapped);
    try {
      if (!this.#client) {
        // Connecting now makes a pending retry moot.
        if (this.#retry) clearTimeout(this.#retry);
        this.#retry = undefined;
        await (this.#connecting ??= this.#connect());
      }
    } catch (err) {
      this.#listeners.delete(wrapped);
      // This attempt replaced a scheduled reconnect: the watchers already in place still need one.
      this.#scheduleReconnect();
      throw this.#o.fail(err);
    }
    let closed = false;
    return {
      close: async () => {
        if (closed) return;
        closed = true;
        this.#listeners.delete(wrapped);
        if (this.#listeners.size === 0) await this.#stop();
      },
    };
  }

  async #connect(): Promise<void> {
    const client = this.#o.open();
    client.on('notification', (n: Notification) => this.#deliver(n));
    client.on('error', (err: Error) => this.#lost(client, err));
    client.on('end', () => this.#lost(client, undefined));
    try {
      await client.connect();
      await client.query(`LISTEN "${this.#o.channel}"`);
    } catch (err) {
      client.removeAllListeners();
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
      throw err;
    } finally {
      this.#connecting = undefined;
    }
    if (this.#listeners.size === 0 || this.#closed || this.#client) {
      client.removeAllListeners();
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    this.#retryMs = RETRY_MIN_MS;
    if (this.#missed) {
      this.#missed = false;
      // Changes made while the connection was down were not seen.
      this.#emit({ kind: 'modified' });
    }
  }

  #deliver(n: Notification): void {
    if (n.channel !== this.#o.channel) return;
    const p = parsePayload(n.payload);
    if (p?.ns !== this.#o.namespace) return;
    const change: EntryChange = {
      kind: p.kind,
      ...(p.name === undefined ? {} : { name: p.name }),
      ...(p.origin === undefined ? {} : { origin: p.origin }),
    };
    this.#emit(change);
  }

  #emit(change: EntryChange): void {
    for (const l of this.#listeners) {
      try {
        l(change);
      } catch (err) {
        this.#o.onError(err);
      }
    }
  }

  /** The LISTEN connection broke: reconnect unless nobody watches any more. */
  #lost(client: Client, err: Error | undefined): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    client.removeAllListeners();
    client.on('error', () => undefined);
    if (err) this.#o.onError(err);
    this.#missed = true;
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#listeners.size === 0 || this.#retry) return;
    const delay = this.#retryMs;
    this.#retryMs = Math.min(RETRY_MAX_MS, this.#retryMs * 2);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (this.#closed || this.#listeners.size === 0 || this.#client) return;
      (this.#connecting ??= this.#connect()).catch((e: unknown) => {
        this.#o.onError(e);
        this.#scheduleReconnect();
      });
    }, delay);
    this.#retry.unref();
  }

  async #stop(): Promise<void> {
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#missed = false;
    const client = this.#client;
    this.#client = undefined;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
    }
  }

  /** Stops listening for good. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    await this.#stop();
  }
}
