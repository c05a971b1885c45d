import {
  CeleriacError,
  ErrorCodes,
  PROPAGATE_STATES,
  jsonSerializer,
  msgpackSerializer,
  type ChordJoin,
  type ChordPart,
  type SerializerName,
} from '@celeriac/core';
import { isClusterClient, redisScript, runScript } from '@celeriac/broker/redis/internal';
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
 * trip, ZRANGE). The join key is a sorted set by `group_index` (Celery's default,
 * `result_chord_ordered`); when Python made it a list (`result_chord_ordered=False`), the list
 * is used.
 *
 * Beyond Celery, for redelivered parts (delivery is at least once, and a part is acked only
 * after it was counted):
 * - a part whose task id is already in the zset at its `group_index` is not added again, even
 *   when its rerun returned another result, so a duplicate never counts twice;
 * - the part that completes the chord records its task id at `.claim` (Celeriac's own key;
 *   Python ignores it). When the count is at the total again, only that same part, redelivered,
 *   completes the chord again (reply 2: its worker died before it could delete the keys, so the
 *   body may or may not have been sent); a duplicate of any other part does not. A duplicate
 *   that finds the count at the total and no claim was counted before a Python worker
 *   completed the chord (Python records no claim): that worker publishes the body, not this one.
 */
const CHORD_PART_LUA = `
-- chord-part
-- KEYS[1]  celery-taskset-meta-<gid>.j: the parts' results (zset by group_index, or list)
-- KEYS[2]  celery-taskset-meta-<gid>.t: added to the chord size (INCRBY by add_to_chord)
-- KEYS[3]  celery-taskset-meta-<gid>.s: the chord size, set by the client that sent it
-- KEYS[4]  celery-taskset-meta-<gid>.claim: the task id of the part that completed the chord
-- ARGV[1]  the encoded part, [1, task id, state, result], in the backend's serializer
-- ARGV[2]  its score, the group_index ('+inf' when it has none)
-- ARGV[3]  the keys' TTL in seconds (0: none)
-- ARGV[4]  the part's task id
-- Returns {0} when this part does not complete the chord (or it has no size), {1, results...}
-- when it completed it, {2, results...} when it had completed it before (redelivered).
local zset = redis.call('TYPE', KEYS[1]).ok ~= 'list'
local seen = false
local count
if zset then
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[2])) do
    -- JSON starts with '['; msgpack writes the 4-tuple as fixarray 0x94
    local decode = string.byte(member, 1) == 0x94 and cmsgpack.unpack or cjson.decode
    local ok, tup = pcall(decode, member)
    if ok and type(tup) == 'table' and tup[2] == ARGV[4] then
      seen = true
      break
    end
  end
  if not seen then redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1]) end
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
local claim = redis.call('GET', KEYS[4])
local reply
if claim then
  if claim ~= ARGV[4] then return {0} end
  reply = 2
else
  if seen then return {0} end
  if ttl > 0 then redis.call('SET', KEYS[4], ARGV[4], 'EX', ttl)
  else redis.call('SET', KEYS[4], ARGV[4]) end
  reply = 1
end
local results
if zset then results = redis.call('ZRANGE', KEYS[1], 0, -1)
else results = redis.call('LRANGE', KEYS[1], 0, total) end
return {reply, results}
`;

// Binary replies: the entries are msgpack when Celery's result_serializer is.
const CHORD_PART_SCRIPT = redisScript<[0] | [1 | 2, Buffer[]]>(CHORD_PART_LUA, { binary: true });

/** A group's key, `celery-taskset-meta-<gid>` (under the same prefix as the task keys). */
export function groupKey(taskPrefix: string, groupId: string): string {
  const prefix = taskPrefix.endsWith(CELERY_TASK_KEY_PREFIX)
    ? taskPrefix.slice(0, -CELERY_TASK_KEY_PREFIX.length) + CELERY_GROUP_KEY_PREFIX
    : CELERY_GROUP_KEY_PREFIX;
  return `${prefix}${groupId}`;
}

/**
 * The keys of one chord's join: Celery's `.j`, `.t`, `.s`, and Celeriac's `.claim`. On a Redis
 * Cluster (`cluster`) the group id is a hash tag, `celery-taskset-meta-{<gid>}.j`, so the
 * join script's four keys share a slot.
 */
export function chordKeys(
  taskPrefix: string,
  groupId: string,
  cluster = false,
): [string, string, string, string] {
  const base = groupKey(taskPrefix, cluster ? `{${groupId}}` : groupId);
  return [`${base}.j`, `${base}.t`, `${base}.s`, `${base}.claim`];
}

/**
 * Records a chord part on Redis the way Celery's Redis backend does, and returns the join
 * when this part completed the chord: the header's results in `group_index` order, or, as
 * Celery's `_unpack_chord_result` raises, the first part that failed (FAILURE or REVOKED).
 * `repeat` says that this part had completed the chord before (its message was redelivered).
 */
export async function redisChordPartReturned(
  client: Redis,
  taskPrefix: string,
  expiresMs: number,
  part: ChordPart,
  serializer: SerializerName = 'json',
): Promise<ChordJoin | undefined> {
  const keys = chordKeys(taskPrefix, part.groupId, isClusterClient(client));
  const tuple = [1, part.taskId, part.state, part.result];
  // Celery's `self.encode(...)`: the backend's result_serializer, as results are written.
  const encoded =
    serializer === 'msgpack' ? msgpackSerializer.encode(tuple) : jsonSerializer.encodeText(tuple);
  const score = part.groupIndex === null ? '+inf' : String(part.groupIndex);
  const ttl = Math.ceil(expiresMs / 1000);
  const args = [encoded, score, ttl, part.taskId];
  const reply = await runScript(client, CHORD_PART_SCRIPT, keys, args);
  if (reply[0] === 0) return undefined;
  const repeat = reply[0] === 2;
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
        repeat,
        release,
      };
    }
    results.push(value);
  }
  return { kind: 'complete', results, repeat, release };
}

/** A join entry, JSON or msgpack by its first byte (msgpack's 4-tuple is fixarray 0x94). */
function unpackChordResult(raw: Buffer, key: string): [string, string, unknown] {
  let tup: unknown;
  try {
    tup = (raw[0] === 0x94 ? msgpackSerializer : jsonSerializer).decode(raw);
  } catch {
    tup = undefined; // reported below, with the key
  }
  if (!Array.isArray(tup) || typeof tup[1] !== 'string' || typeof tup[2] !== 'string') {
    throw new CeleriacError(
      ErrorCodes.SERIALIZATION,
      `a chord part in ${key} is not Celery's [1, task id, state, result] in JSON or msgpack`,
      { details: { key } },
    );
  }
  return [tup[1], tup[2], tup[3]];
}
