import { CeleriacError, ErrorCodes } from '@celeriac/core';
import { optionChecks, optionTypes as t, type OptionType } from '@celeriac/core/internal';
import { runScript } from '@celeriac/broker/redis/internal';
import type { Redis, RedisOptions } from 'ioredis';
import type { EntrySource, StoredEntry } from '../entry.js';
import {
  defaultOrigin,
  DEFAULT_MAX_ENTRIES,
  DEFAULT_MAX_PENDING,
  RECENT_RUNS_KEPT,
  TOMBSTONE_TTL_MS,
  type ClaimResult,
  type EntryChange,
  type EntryWrite,
  type Lease,
  type LeadershipResult,
  type NextRun,
  type PendingRun,
  type RunRef,
  type ScheduleStore,
  type StoreWatch,
  type TickClaim,
  type UpsertMode,
  type UpsertResult,
} from '../store/schedule-store.js';
import { DefinitionCache } from '../store/definition-cache.js';
import { beatKeys, parsePendingMember, pendingMember, type BeatKeys } from './keys.js';
import { RedisChangeWatch } from './redis-change-watch.js';
import { RedisLeaderLock } from './redis-leader-lock.js';
import { CLAIM_SCRIPT, REMOVE_SCRIPT, SET_ENABLED_SCRIPT, UPSERT_SCRIPT } from './scripts.js';
import { openStoreClient, removeAllEntries } from './store-connection.js';

/** Options of {@link RedisScheduleStore}. */
export interface RedisScheduleStoreOptions {
  /**
   * `redis://[[user]:password@]host[:port][/db]`, `rediss://…` or a Redis Sentinel
   * `sentinel://h1:26379;sentinel://h2:26379/0?master_name=mymaster`. Usually the broker's URL.
   * @default undefined (required unless `client` is given)
   */
  url?: string;
  /** An ioredis client to use instead of opening one; the store does not close it. @default undefined */
  client?: Redis;
  /** Extra ioredis options for the connection the store opens (TLS, retry strategy). @default {} */
  redisOptions?: RedisOptions;
  /**
   * Separates the schedules of several deployments on one Redis (the key prefix
   * `_celeriac.beat.{<namespace>}.`); also part of every run's task id. @default 'default'
   */
  namespace?: string;
  /** Live entries at most. @default 100000 */
  maxEntries?: number;
  /** Unconfirmed runs kept at most (the oldest are dropped). @default 100000 */
  maxPending?: number;
  /** The writer's name in change notices (`EntryChange.origin`). @default `<hostname>:<pid>` */
  origin?: string;
}

/** A day after the last claim the pending set expires (every run in it is long stale). */
const PENDING_TTL_MS = 86_400_000;

const str = (n: number | null): string => (n === null ? '' : String(n));
const num = (s: string | undefined): number | null =>
  s === undefined || s === '' ? null : Number(s);

/**
 * The schedule store in Redis, shared by every beat process and the CLI: entries live in
 * hashes, a sorted set indexes them by due time, and the leader lock, its fencing counter and
 * the pending runs sit beside them (see `keys.ts`). Each change is one Lua script, so it is
 * atomic; see `ScheduleStore` for the guarantees.
 *
 * Import it from `@celeriac/beat/redis`, so that `@celeriac/beat` itself never loads ioredis.
 *
 * @example
 * ```ts
 * import { RedisScheduleStore } from '@celeriac/beat/redis';
 * const store = new RedisScheduleStore({ url: 'redis://localhost:6379/0' });
 * ```
 */
export class RedisScheduleStore implements ScheduleStore {
  readonly namespace: string;
  readonly #client: Redis;
  readonly #ownsClient: boolean;
  readonly #keys: BeatKeys;
  readonly #lock: RedisLeaderLock;
  readonly #url: string;
  readonly #maxEntries: number;
  readonly #maxPending: number;
  readonly #definitions = new DefinitionCache();
  /**
   * The entries this store last read or claimed, with their due time. \`due()\` reuses one whose
   * due time in the index is unchanged instead of reading its hash again: a leader with 1,000
   * entries due every second then reads only the index. A copy that went stale (the entry was
   * edited elsewhere) fails the claim script's revision check, is dropped, and is read again.
   */
  readonly #cache = new Map<string, { entry: StoredEntry; dueAt: number | null }>();
  /** This instance's name in the change notices it writes. */
  readonly origin: string;
  readonly #watch: RedisChangeWatch;
  #lastError: Error | undefined;
  #closed = false;

  constructor(options: RedisScheduleStoreOptions) {
    optionChecks('RedisScheduleStore').strict(options, {
      url: t.nonEmptyString,
      client: t.object,
      redisOptions: t.object,
      namespace: t.nonEmptyString,
      maxEntries: t.positiveInteger,
      maxPending: t.positiveInteger,
      origin: t.nonEmptyString,
    } satisfies { readonly [K in keyof Required<RedisScheduleStoreOptions>]: OptionType });
    this.namespace = options.namespace ?? 'default';
    this.#keys = beatKeys(this.namespace);
    this.#maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.#maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
    this.origin = options.origin ?? defaultOrigin();
    const { client, owned, url } = openStoreClient(options);
    this.#client = client;
    this.#ownsClient = owned;
    this.#url = url;
    // ioredis reconnects by itself; keep the last connection error for messages instead of
    // letting it surface as an unhandled 'error' event.
    if (owned) client.on('error', (err: Error) => (this.#lastError = err));
    this.#lock = new RedisLeaderLock(this.#client, this.#keys);
    // A notice from another instance makes the cached copy of its entry (or of all) stale.
    this.#watch = new RedisChangeWatch(this.#client, this.#keys.changes, (change) => {
      if (change.name === undefined) this.#cache.clear();
      else this.#cache.delete(change.name);
    });
  }

  /**
   * Listens on the namespace's change channel, on a subscriber connection of its own shared
   * by every watch of this store (see `ScheduleStore.watch`).
   */
  watch(listener: (change: EntryChange) => void): Promise<StoreWatch> {
    return this.#run('watch', () => this.#watch.watch(listener));
  }

  async #run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new CeleriacError(ErrorCodes.CLOSED, 'this schedule store was closed');
    try {
      return await fn();
    } catch (err) {
      if (err instanceof CeleriacError) throw err;
      const last =
        this.#lastError && this.#lastError !== err
          ? ` (last connection error: ${this.#lastError.message})`
          : '';
      throw new CeleriacError(
        ErrorCodes.BROKER_UNAVAILABLE,
        `beat schedule store at ${this.#url}: ${what} failed: ${(err as Error).message}${last}`,
        {
          cause: err,
          details: { url: this.#url },
        },
      );
    }
  }

  upsert(entries: readonly EntryWrite[], mode: UpsertMode, now: number): Promise<UpsertResult[]> {
    const k = this.#keys;
    return this.#run('upsert', () =>
      Promise.all(
        entries.map(async (e) => {
          const name = e.definition.name;
          this.#cache.delete(name);
          const status = await runScript(
            this.#client,
            UPSERT_SCRIPT,
            [k.entry(name), k.names, k.due],
            [
              name,
              JSON.stringify(e.definition),
              e.hash,
              e.enabled ? '1' : '0',
              e.source,
              str(e.nextRunAt),
              str(e.dueAt),
              mode,
              now,
              this.#maxEntries,
              e.revision === undefined ? '' : e.revision,
              k.changes,
              this.origin,
            ],
          );
          return { name, status };
        }),
      ),
    );
  }

  remove(name: string, now: number): Promise<boolean> {
    const k = this.#keys;
    this.#cache.delete(name);
    return this.#run(
      'remove',
      async () =>
        (await runScript(
          this.#client,
          REMOVE_SCRIPT,
          [k.entry(name), k.names, k.due],
          [name, TOMBSTONE_TTL_MS, now, k.changes, this.origin],
        )) === 1,
    );
  }

  removeAll(now: number): Promise<number> {
    this.#cache.clear();
    return this.#run('removeAll', () =>
      removeAllEntries(this.#client, this.#keys, now, this.origin),
    );
  }

  setEnabled(
    name: string,
    enabled: boolean,
    next: NextRun | undefined,
    _now: number,
  ): Promise<boolean> {
    const k = this.#keys;
    const args = next ? [str(next.nextRunAt), str(next.dueAt)] : ['-', ''];
    this.#cache.delete(name);
    return this.#run(
      'setEnabled',
      async () =>
        (await runScript(
          this.#client,
          SET_ENABLED_SCRIPT,
          [k.entry(name), k.due],
          [name, enabled ? '1' : '0', ...args, k.changes, this.origin],
        )) === 1,
    );
  }

  #parse(name: string, h: Record<string, string>): StoredEntry | undefined {
    const raw = h['def'];
    if (raw === undefined || h['removed'] !== undefined) return undefined;
    return {
      definition: this.#definitions.definition(name, raw),
      state: {
        enabled: h['enabled'] === '1',
        source: (h['source'] === 'config' ? 'config' : 'api') satisfies EntrySource,
        nextRunAt: num(h['nextRunAt']),
        lastRunAt: num(h['lastRunAt']),
        lastDispatchedAt: num(h['lastDispatchedAt']),
        totalRunCount: Number(h['runs'] ?? 0),
        revision: Number(h['rev'] ?? 0),
        recentRuns: h['recent'] ? h['recent'].split(',').map(Number) : [],
      },
    };
  }

  async #read(names: readonly string[]): Promise<StoredEntry[]> {
    const hashes = await Promise.all(names.map((n) => this.#client.hgetall(this.#keys.entry(n))));
    const out: StoredEntry[] = [];
    names.forEach((n, i) => {
      const h = hashes[i] ?? {};
      const e = this.#parse(n, h);
      if (e) {
        out.push(e);
        this.#cache.set(n, { entry: e, dueAt: num(h['dueAt']) });
      } else {
        this.#cache.delete(n);
      }
    });
    return out;
  }

  get(name: string): Promise<StoredEntry | undefined> {
    return this.#run('get', async () => (await this.#read([name]))[0]);
  }

  list(): Promise<StoredEntry[]> {
    return this.#run('list', async () => {
      const names = (await this.#client.smembers(this.#keys.names)).sort((a, b) =>
        a.localeCompare(b),
      );
      return this.#read(names);
    });
  }

  due(now: number, limit: number): Promise<StoredEntry[]> {
    return this.#run('due', async () => {
      const r = await this.#client.zrangebyscore(
        this.#keys.due,
        '-inf',
        now,
        'WITHSCORES',
        'LIMIT',
        0,
        limit,
      );
      const names: string[] = [];
      const misses: string[] = [];
      for (let i = 0; i + 1 < r.length; i += 2) {
        const name = r[i] ?? '';
        names.push(name);
        const hit = this.#cache.get(name);
        if (!hit || hit.dueAt !== Number(r[i + 1])) misses.push(name);
      }
      if (misses.length > 0) {
        const read = new Set((await this.#read(misses)).map((e) => e.definition.name));
        // An index member without a live entry (should not happen): drop it so it is not read again.
        const orphans = misses.filter((n) => !read.has(n));
        if (orphans.length > 0) await this.#client.zrem(this.#keys.due, ...orphans);
      }
      const out: StoredEntry[] = [];
      for (const name of names) {
        const e = this.#cache.get(name)?.entry;
        if (e && e.state.enabled && e.state.nextRunAt !== null) out.push(e);
      }
      return out;
    });
  }

  nextDueAt(): Promise<number | undefined> {
    return this.#run('nextDueAt', async () => {
      const r = await this.#client.zrange(this.#keys.due, 0, 0, 'WITHSCORES');
      return r[1] === undefined ? undefined : Number(r[1]);
    });
  }

  claim(lease: Lease, claims: readonly TickClaim[], now: number): Promise<ClaimResult[]> {
    if (claims.length === 0) return Promise.resolve([]);
    const k = this.#keys;
    const keys = [k.lock, k.due, k.pending, ...claims.map((c) => k.entry(c.name))];
    const args: (string | number)[] = [
      lease.token,
      now,
      this.#maxPending,
      PENDING_TTL_MS,
      RECENT_RUNS_KEPT,
    ];
    for (const c of claims)
      args.push(
        c.name,
        c.revision,
        c.expectedNextRunAt,
        str(c.nextRunAt),
        str(c.dueAt),
        c.runs.join(','),
      );
    return this.#run('claim', async () => {
      const out = await runScript(this.#client, CLAIM_SCRIPT, keys, args);
      if (out[0] === 'fenced') {
        for (const c of claims) this.#cache.delete(c.name);
        return claims.map((c) => ({ name: c.name, status: 'fenced' as const }));
      }
      return claims.map((c, i): ClaimResult => {
        const r = out[i] ?? 'stale';
        if (r === 'stale') {
          this.#cache.delete(c.name);
          return { name: c.name, status: 'stale' };
        }
        const runs = r === '' ? [] : r.split(',').map(Number);
        this.#remember(c, runs, now);
        return { name: c.name, status: 'claimed', runs };
      });
    });
  }

  /** Applies a successful claim to the cached copy, as the script applied it to the hash. */
  #remember(c: TickClaim, runs: readonly number[], now: number): void {
    const hit = this.#cache.get(c.name);
    if (!hit || hit.entry.state.revision !== c.revision || c.dueAt === null) {
      this.#cache.delete(c.name);
      return;
    }
    const last = runs[runs.length - 1];
    const state = hit.entry.state;
    this.#cache.set(c.name, {
      dueAt: c.dueAt,
      entry: {
        definition: hit.entry.definition,
        state: {
          ...state,
          nextRunAt: c.nextRunAt,
          ...(last === undefined
            ? {}
            : {
                lastRunAt: last,
                lastDispatchedAt: now,
                totalRunCount: state.totalRunCount + runs.length,
                recentRuns: [...state.recentRuns, ...runs].slice(-RECENT_RUNS_KEPT),
              }),
        },
      },
    });
  }

  settle(runs: readonly RunRef[]): Promise<void> {
    if (runs.length === 0) return Promise.resolve();
    return this.#run('settle', async () => {
      await this.#client.zrem(
        this.#keys.pending,
        ...runs.map((r) => pendingMember(r.name, r.scheduledAt)),
      );
    });
  }

  pending(claimedBefore: number, limit: number): Promise<PendingRun[]> {
    return this.#run('pending', async () => {
      const r = await this.#client.zrangebyscore(
        this.#keys.pending,
        '-inf',
        `(${claimedBefore}`,
        'WITHSCORES',
        'LIMIT',
        0,
        limit,
      );
      const out: PendingRun[] = [];
      for (let i = 0; i + 1 < r.length; i += 2) {
        const m = parsePendingMember(r[i] ?? '');
        if (m) out.push({ ...m, claimedAt: Number(r[i + 1]) });
      }
      return out;
    });
  }

  acquireLeadership(owner: string, ttlMs: number, _now: number): Promise<LeadershipResult> {
    return this.#run('acquireLeadership', () => this.#lock.acquire(owner, ttlMs));
  }

  renewLeadership(lease: Lease, ttlMs: number, _now: number): Promise<boolean> {
    return this.#run('renewLeadership', () => this.#lock.renew(lease, ttlMs));
  }

  releaseLeadership(lease: Lease): Promise<void> {
    return this.#run('releaseLeadership', () => this.#lock.release(lease));
  }

  leader(_now: number): Promise<{ owner: string; fence: number; ttlMs: number } | undefined> {
    return this.#run('leader', () => this.#lock.holder());
  }

  /** Closes the connection the store opened (not a given client). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#watch.close();
    if (this.#ownsClient) {
      await this.#client.quit().catch(() => this.#client.disconnect());
    }
  }
}
