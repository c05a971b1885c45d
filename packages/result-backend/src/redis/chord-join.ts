import {
  CeleriacError,
  ErrorCodes,
  PROPAGATE_STATES,
  jsonSerializer,
  type ChordJoin,
  type ChordPart,
} from '@celeriac/core';
import { redisScript, runScript } from '@celeriac/broker/redis/internal';
import { excRepr } from '@celeriac/core/internal';
import type { Redis } from 'ioredis';
import { CELERY_TASK_KEY_PREFIX } from './keys.js';

/** Celery's `group_keyprefix`. */
export const CELERY_GROUP_KEY_PREFIX = 'celery-taskset-meta-';

/**
 * One chord part, as Celery's `RedisBackend.on_chord_part_return` counts it, in one atomic
 * step. Celery sends ZADD (or RPUSH) + ZCOUNT (or LLEN) + GET `.t` + GET `.s` + EXPIREs in a
 * MULTI pipeline: since the add and the count are one transaction, each part sees its own
 * count, and `readycount == .s + .t` holds for exactly one caller, the one whose part
 * completed the header; only it publishes the body. This script is the same transaction (a
 * script is atomic against MULTI blocks, so Python and Celeriac workers can count the same
 * chord), and also returns the header's results when it completes (Celery's second round
 * trip, ZRANGE). A duplicate of a part already counted (a redelivered message) adds the same
 * member: the count does not move, so it completes the chord only when Celery's would too.
 * The join key is a sorted set by `group_index` (Celery's default, `result_chord_ordered`);
 * when Python made it a list (`result_chord_ordered=False`), the list is used.
 */
const CHORD_PART_LUA = `
-- chord-part
-- KEYS[1]  celery-taskset-meta-<gid>.j: the parts' results (zset by group_index, or list)
-- KEYS[2]  celery-taskset-meta-<gid>.t: added to the chord size (INCRBY by add_to_chord)
-- KEYS[3]  celery-taskset-meta-<gid>.s: the chord size, set by the client that sent it
-- ARGV[1]  the encoded part, [1, task id, state, result]
-- ARGV[2]  its score, the group_index ('+inf' when it has none)
-- ARGV[3]  the keys' TTL in seconds (0: none)
-- Returns {0} when the chord is not complete (or has no size), {1, results...} when this part
-- completed it.
local zset = redis.call('TYPE', KEYS[1]).ok ~= 'list'
local count
if zset then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  count = redis.call('ZCARD', KEYS[1])
else
  redis.call('RPUSH', KEYS[1], ARGV[1])
  count = redis.call('LLEN', KEYS[1])
end
local diff = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
local size = redis.call('GET', KEYS[3])
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ttl) end
end
if not size then return {0} end
local total = (tonumber(size) or 0) + diff
if count ~= total then return {0} end
local results
if zset then results = redis.call('ZRANGE', KEYS[1], 0, -1)
else results = redis.call('LRANGE', KEYS[1], 0, total) end
return {1, results}
`;

const CHORD_PART_SCRIPT = redisScript<[0] | [1, string[]]>(CHORD_PART_LUA);

/** A group's key, `celery-taskset-meta-<gid>` (under the same prefix as the task keys). */
export function groupKey(taskPrefix: string, groupId: string): string {
  const prefix = taskPrefix.endsWith(CELERY_TASK_KEY_PREFIX)
    ? taskPrefix.slice(0, -CELERY_TASK_KEY_PREFIX.length) + CELERY_GROUP_KEY_PREFIX
    : CELERY_GROUP_KEY_PREFIX;
  return `${prefix}${groupId}`;
}

/** The three keys of one chord's join. */
export function chordKeys(taskPrefix: string, groupId: string): [string, string, string] {
  const base = groupKey(taskPrefix, groupId);
  return [`${base}.j`, `${base}.t`, `${base}.s`];
}

/**
 * Records a chord part on Redis the way Celery's Redis backend does, and returns the join
 * when this part completed the chord: the header's results in `group_index` order, or, as
 * Celery's `_unpack_chord_result` raises, the first part that failed (FAILURE or REVOKED).
 */
export async function redisChordPartReturned(
  client: Redis,
  taskPrefix: string,
  expiresMs: number,
  part: ChordPart,
): Promise<ChordJoin | undefined> {
  const keys = chordKeys(taskPrefix, part.groupId);
  const encoded = jsonSerializer.encodeText([1, part.taskId, part.state, part.result]);
  const score = part.groupIndex === null ? '+inf' : String(part.groupIndex);
  const ttl = Math.ceil(expiresMs / 1000);
  const reply = await runScript(client, CHORD_PART_SCRIPT, keys, [encoded, score, ttl]);
  if (reply[0] !== 1) return undefined;
  const release = async (): Promise<void> => {
    await client.del(...keys);
  };
  const results: unknown[] = [];
  for (const raw of reply[1]) {
    const [taskId, state, value] = unpackChordResult(raw, keys[0]);
    if (PROPAGATE_STATES.has(state)) {
      return {
        kind: 'failed',
        taskId,
        message: `Dependency ${taskId} raised ${excRepr(value)}`,
        release,
      };
    }
    results.push(value);
  }
  return { kind: 'complete', results, release };
}

function unpackChordResult(raw: string, key: string): [string, string, unknown] {
  let tup: unknown;
  try {
    tup = jsonSerializer.decode(Buffer.from(raw, 'utf8'));
  } catch {
    tup = undefined; // reported below, with the key
  }
  if (!Array.isArray(tup) || typeof tup[1] !== 'string' || typeof tup[2] !== 'string') {
    throw new CeleriacError(
      ErrorCodes.SERIALIZATION,
      `a chord part in ${key} is not Celery's JSON [1, task id, state, result]`,
      { details: { key } },
    );
  }
  return [tup[1], tup[2], tup[3]];
}
