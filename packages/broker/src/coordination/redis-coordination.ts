import {
  CeleriacError,
  ErrorCodes,
  silentLogger,
  systemClock,
  type Clock,
  type Coordination,
  type Logger,
  type Revocation,
  type RevocationWatch,
  type RevokeOptions,
} from '@celeriac/core';
import {
  type OptionType,
  optionChecks,
  optionTypes as t,
  MAX_REVOKED,
  redactUrl,
} from '@celeriac/core/internal';
import type { Redis, RedisOptions } from 'ioredis';
import { openRedisClient, redisScript, runScript, toRedisError } from '../redis/internal/index.js';

/** Keys of the coordination state, all under `celeriac.` and each with a TTL. */
export const coordinationKeys = {
  /** Sorted set: member `t:<id>` (terminate) or `r:<id>`, score = expiry in epoch ms. */
  revoked: 'celeriac.revoked',
  /** Pub/sub channel announcing revocations as JSON `{ids, terminate, expiresAt}`. */
  revokedChannel: 'celeriac.revoked',
  rate: (key: string): string => `celeriac.rate.${key}`,
  unique: (key: string): string => `celeriac.unique.${key}`,
} as const;

const REVOKE_SCRIPT = redisScript<number>(`
-- revoke
-- KEYS[1]  the revoked sorted set
-- ARGV[1]  now, epoch ms
-- ARGV[2]  expiry of these revocations, epoch ms
-- ARGV[3]  '1' to terminate running tasks, '0' not to
-- ARGV[4]  the most revocations kept
-- ARGV[5…] task ids
local prefix = ARGV[3] == '1' and 't:' or 'r:'
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for i = 5, #ARGV do
  redis.call('ZADD', KEYS[1], ARGV[2], prefix .. ARGV[i])
end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[4]) + 1))
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then
  redis.call('PEXPIREAT', KEYS[1], math.ceil(tonumber(last[2])))
end
local ids = {}
for i = 5, #ARGV do ids[#ids + 1] = ARGV[i] end
redis.call('PUBLISH', KEYS[1], cjson.encode({ ids = ids, terminate = ARGV[3] == '1', expiresAt = tonumber(ARGV[2]) }))
return #ids
`);

const RESERVE_RATE_SLOT_SCRIPT = redisScript<number>(`
-- reserve-rate-slot: evenly spaced start slots (GCRA with a burst of one), timed by Redis's clock
-- KEYS[1]  the rate key, holding the epoch ms of the next free slot
-- ARGV[1]  spacing between slots in ms (interval / count)
-- Returns the ms to wait before the reserved slot (0: start now).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local spacing = tonumber(ARGV[1])
local nextSlot = tonumber(redis.call('GET', KEYS[1]) or '0')
if nextSlot < now then nextSlot = now end
local after = nextSlot + spacing
redis.call('SET', KEYS[1], string.format('%.3f', after), 'PX', math.ceil(after - now) + 1000)
return math.ceil(nextSlot - now)
`);

const CLAIM_UNIQUE_SCRIPT = redisScript<string | null>(`
-- claim-unique
-- KEYS[1]  the uniqueness key
-- ARGV[1]  the task id claiming it
-- ARGV[2]  how long the claim lasts, ms
-- Returns nil when claimed, else the task id that holds the key.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return nil
end
return redis.call('GET', KEYS[1])
`);

export interface RedisCoordinationOptions {
  /** `redis://`, `rediss://`, Redis Sentinel `sentinel://` / `sentinels://` or Redis Cluster `redis+cluster://` URL. */
  url: string;
  /** ioredis options for the connections it opens. @default {} */
  redisOptions?: RedisOptions;
  /** @default silent */
  logger?: Logger;
  /** @default systemClock */
  clock?: Clock;
}

function parseMember(member: string, score: string): Revocation | undefined {
  const kind = member.slice(0, 2);
  if (kind !== 't:' && kind !== 'r:') return undefined;
  return { id: member.slice(2), terminate: kind === 't:', expiresAt: Number(score) };
}

/**
 * Coordination on Redis, shared by every client and worker on the server: a revoked sorted
 * set (scores are expiry times; capped at 50,000 like Celery's) announced on a channel; rate
 * slots as one key per limit holding the next free slot; uniqueness claims as SET NX PX.
 */
export class RedisCoordination implements Coordination {
  readonly kind = 'redis' as const;
  readonly #url: string;
  readonly #client: Redis;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #subscribers = new Set<Redis>();
  #closing: Promise<void> | undefined;

  constructor(options: RedisCoordinationOptions) {
    const { strict, invalid } = optionChecks('RedisCoordination');
    strict(options, {
      url: t.nonEmptyString,
      redisOptions: t.object,
      logger: t.object,
      clock: t.object,
    } satisfies { readonly [K in keyof Required<RedisCoordinationOptions>]: OptionType });
    if (typeof options.url !== 'string')
      throw invalid('url', 'is required (e.g. redis://localhost:6379/0)');
    this.#url = options.url;
    this.#logger = options.logger ?? silentLogger;
    this.#clock = options.clock ?? systemClock;
    const client = openRedisClient(options.url, {
      redisOptions: options.redisOptions,
      // Named so even when the user's options name their connections: CLIENT LIST tells it apart.
      overrides: { connectionName: 'celeriac-coordination' },
    });
    client.on('error', (err: Error) =>
      this.#logger.debug({ err }, 'coordination connection error'),
    );
    this.#client = client;
  }

  async revoke(ids: readonly string[], options: RevokeOptions): Promise<void> {
    if (ids.length === 0) return;
    const now = this.#clock.now();
    await this.#run(() =>
      runScript(
        this.#client,
        REVOKE_SCRIPT,
        [coordinationKeys.revoked],
        [now, now + options.ttlMs, options.terminate ? '1' : '0', MAX_REVOKED, ...ids],
      ),
    );
  }

  async watchRevocations(listener: (revocation: Revocation) => void): Promise<RevocationWatch> {
    this.#assertOpen();
    const sub = openRedisClient(this.#client, {
      connectionName: 'celeriac-coordination-sub',
      autoPipelining: false,
    });
    sub.on('error', (err: Error) => this.#logger.debug({ err }, 'revocation subscriber error'));
    this.#subscribers.add(sub);
    const onMessage = (_channel: string, raw: string): void => {
      try {
        const m = JSON.parse(raw) as { ids?: unknown; terminate?: unknown; expiresAt?: unknown };
        if (!Array.isArray(m.ids)) return;
        for (const id of m.ids) {
          if (typeof id === 'string')
            listener({ id, terminate: m.terminate === true, expiresAt: Number(m.expiresAt) });
        }
      } catch (err) {
        this.#logger.warn({ err }, 'ignored a malformed revocation announcement');
      }
    };
    sub.on('message', onMessage);
    // After a reconnect ioredis resubscribes; reread the set so nothing announced meanwhile is missed.
    sub.on('ready', () => {
      void this.#readRevoked().then(
        (all) => all.forEach(listener),
        () => undefined,
      );
    });
    await this.#run(() => sub.subscribe(coordinationKeys.revokedChannel));
    const current = await this.#readRevoked();
    return {
      current,
      stop: async () => {
        this.#subscribers.delete(sub);
        sub.off('message', onMessage);
        await sub.quit().catch(() => sub.disconnect());
      },
    };
  }

  async reserveRateSlot(key: string, count: number, intervalMs: number): Promise<number> {
    const spacing = (intervalMs / count).toFixed(3);
    return this.#run(() =>
      runScript(this.#client, RESERVE_RATE_SLOT_SCRIPT, [coordinationKeys.rate(key)], [spacing]),
    );
  }

  async claimUnique(key: string, taskId: string, ttlMs: number): Promise<string | null> {
    return this.#run(() =>
      runScript(
        this.#client,
        CLAIM_UNIQUE_SCRIPT,
        [coordinationKeys.unique(key)],
        [taskId, Math.max(1, Math.ceil(ttlMs))],
      ),
    );
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      const subs = [...this.#subscribers];
      this.#subscribers.clear();
      await Promise.all(
        [...subs, this.#client].map((c) =>
          c.quit().then(
            () => undefined,
            () => c.disconnect(),
          ),
        ),
      );
    })();
    return this.#closing;
  }

  async #readRevoked(): Promise<Revocation[]> {
    const now = this.#clock.now();
    const flat = await this.#run(() =>
      this.#client.zrangebyscore(coordinationKeys.revoked, now, '+inf', 'WITHSCORES'),
    );
    const out: Revocation[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const r = parseMember(flat[i] ?? '', flat[i + 1] ?? '0');
      if (r) out.push(r);
    }
    return out;
  }

  async #run<T>(op: () => Promise<T>): Promise<T> {
    this.#assertOpen();
    try {
      return await op();
    } catch (err) {
      throw toRedisError('broker', err, { url: this.#url });
    }
  }

  #assertOpen(): void {
    if (this.#closing) {
      throw new CeleriacError(
        ErrorCodes.CLOSED,
        `the coordination client for ${redactUrl(this.#url)} was closed`,
      );
    }
  }
}
