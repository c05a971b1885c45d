import { redisScript } from '../internal/index.js';
import { WAKE } from './wake.js';

/** The restorer of stale in-flight messages (kombu's restore_visible) and its lock. Keys come from `../keys.ts`. */

export const RESTORE_LUA = `--[[
  restore: puts stale in-flight messages back on their queues (kombu's restore_visible, made
  safe against races): each one only if its unacked entry is still exactly what the restorer
  read and its index score is still stale, so a concurrent ack, a kombu restore or a live
  owner's refresh wins. Pushes with RPUSH (served next), as kombu's restore does.
  Run by the holder of unacked_mutex.

  KEYS[1]    unacked
  KEYS[2]    unacked_index
  KEYS[3..]  ready lists and wake lists, referenced by index from ARGV
  ARGV[1]    ceiling, epoch seconds: index scores at or below it are stale
  ARGV[2]    wake list TTL, ms
  then per message: tag, expected unacked value ('' for an index entry with no unacked entry,
  which is only removed), envelope to push, t, then t pairs (ready list KEYS index, wake list
  KEYS index)
  Returns the number of messages restored.
]]
${WAKE}
local ceiling = tonumber(ARGV[1])
local restored = 0
local i = 3
while i <= #ARGV do
  local tag, expected, payload, t = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  i = i + 4
  local s = redis.call('ZSCORE', KEYS[2], tag)
  local stale = (not s) or tonumber(s) <= ceiling
  if expected == '' then
    if stale and redis.call('HEXISTS', KEYS[1], tag) == 0 then redis.call('ZREM', KEYS[2], tag) end
  elseif stale and redis.call('HGET', KEYS[1], tag) == expected then
    redis.call('HDEL', KEYS[1], tag)
    redis.call('ZREM', KEYS[2], tag)
    for j = 0, t - 1 do
      redis.call('RPUSH', KEYS[tonumber(ARGV[i + 2 * j])], payload)
      wake(KEYS[tonumber(ARGV[i + 2 * j + 1])], ARGV[2])
    end
    restored = restored + 1
  end
  i = i + 2 * t
end
return restored
`;

export const RESTORE_SCRIPT = redisScript<number>(RESTORE_LUA);

export const RELEASE_LOCK_LUA = `--[[
  releaseLock: deletes a lock only if this holder still owns it (redis-py's Lock.release,
  which kombu uses for unacked_mutex).

  KEYS[1]  the lock
  ARGV[1]  the holder's token
  Returns 1 when released, 0 when the lock had expired or changed hands.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export const RELEASE_LOCK_SCRIPT = redisScript<number>(RELEASE_LOCK_LUA);
