import { redisScript } from '@celeriac/broker/redis/internal';
import type { UpsertStatus } from '../store/schedule-store.js';

/**
 * The beat store's atomic operations, one Lua script each, with their KEYS and ARGV named in
 * the header. Run with the broker's `runScript` (`@celeriac/broker/redis/internal`: EVALSHA,
 * falling back to EVAL after a Redis restart). All keys come from `keys.ts`. Times are epoch
 * milliseconds as decimal strings; Lua's doubles hold them exactly.
 */

export const UPSERT_LUA = `--[[
  upsert: creates or updates one entry.

  KEYS[1]  entry hash
  KEYS[2]  names set
  KEYS[3]  due zset
  ARGV[1]  name
  ARGV[2]  definition, JSON
  ARGV[3]  definition hash
  ARGV[4]  enabled: '1' or '0'
  ARGV[5]  source: 'config' or 'api'
  ARGV[6]  next run, '' for none
  ARGV[7]  due at (next run plus jitter), '' for none
  ARGV[8]  mode: 'sync' (skip an unchanged definition), 'create' (skip an existing entry) or 'replace'
  ARGV[9]  now
  ARGV[10] most live entries
  Returns 'created', 'updated', 'unchanged', 'exists' or 'full'.
]]
local live = redis.call('HEXISTS', KEYS[1], 'def') == 1 and redis.call('HEXISTS', KEYS[1], 'removed') == 0
if live then
  if ARGV[8] == 'create' then return 'exists' end
  if ARGV[8] == 'sync' and redis.call('HGET', KEYS[1], 'hash') == ARGV[3] then return 'unchanged' end
elseif redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[10]) then
  return 'full'
end
if not live then
  -- New, or re-added within a day of its removal: keep only the high-water mark, so a run
  -- claimed before the removal is never claimed again.
  local claimed = redis.call('HGET', KEYS[1], 'claimedUntil')
  local rev = redis.call('HGET', KEYS[1], 'rev') or '0'
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'runs', 0, 'createdAt', ARGV[9], 'rev', rev)
  if claimed then redis.call('HSET', KEYS[1], 'claimedUntil', claimed) end
end
redis.call('HSET', KEYS[1], 'def', ARGV[2], 'hash', ARGV[3], 'enabled', ARGV[4], 'source', ARGV[5],
  'nextRunAt', ARGV[6], 'dueAt', ARGV[7], 'updatedAt', ARGV[9])
redis.call('HINCRBY', KEYS[1], 'rev', 1)
redis.call('SADD', KEYS[2], ARGV[1])
if ARGV[4] == '1' and ARGV[7] ~= '' then
  redis.call('ZADD', KEYS[3], ARGV[7], ARGV[1])
else
  redis.call('ZREM', KEYS[3], ARGV[1])
end
if live then return 'updated' end
return 'created'
`;

export const REMOVE_LUA = `--[[
  remove: takes an entry out of the schedule. Its hash stays, marked removed, for ARGV[2] ms
  so that re-adding the entry keeps its high-water mark.

  KEYS[1]  entry hash
  KEYS[2]  names set
  KEYS[3]  due zset
  ARGV[1]  name
  ARGV[2]  tombstone TTL, ms
  ARGV[3]  now
  Returns 1, or 0 when there was no such entry.
]]
if redis.call('HEXISTS', KEYS[1], 'def') == 0 or redis.call('HEXISTS', KEYS[1], 'removed') == 1 then return 0 end
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[1], 'removed', ARGV[3])
redis.call('HDEL', KEYS[1], 'recent')
redis.call('HINCRBY', KEYS[1], 'rev', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

export const SET_ENABLED_LUA = `--[[
  setEnabled: pauses or resumes an entry.

  KEYS[1]  entry hash
  KEYS[2]  due zset
  ARGV[1]  name
  ARGV[2]  enabled: '1' or '0'
  ARGV[3]  next run, '' for none, '-' to keep the stored one
  ARGV[4]  due at, '' for none (ignored with '-')
  Returns 1, or 0 when there is no such entry.
]]
if redis.call('HEXISTS', KEYS[1], 'def') == 0 or redis.call('HEXISTS', KEYS[1], 'removed') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'enabled', ARGV[2])
if ARGV[3] ~= '-' then redis.call('HSET', KEYS[1], 'nextRunAt', ARGV[3], 'dueAt', ARGV[4]) end
redis.call('HINCRBY', KEYS[1], 'rev', 1)
local due = redis.call('HGET', KEYS[1], 'dueAt')
if ARGV[2] == '1' and due and due ~= '' then
  redis.call('ZADD', KEYS[2], due, ARGV[1])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return 1
`;

export const CLAIM_LUA = `--[[
  claim: the exactly-once step. For each entry, atomically: check that the caller holds the
  leader lock (fencing), that the entry is live, enabled and unchanged since it was read
  (revision and next run), keep only the runs later than the entry's high-water mark (the
  latest run ever claimed: the idempotency key of a run is (entry, scheduled time)), then
  advance the entry, count the runs, append them to the entry's recent runs and record them
  as pending until the publisher settles them.

  KEYS[1]      leader lock
  KEYS[2]      due zset
  KEYS[3]      pending zset
  KEYS[3 + i]  entry hash of claim i, i = 1 .. n
  ARGV[1]      fencing token (the lock's value for the caller)
  ARGV[2]      now
  ARGV[3]      most pending runs kept
  ARGV[4]      pending zset TTL, ms
  ARGV[5]      most recent runs kept per entry (the 'recent' field, comma-separated)
  then six per claim, from ARGV[6 + 6 * (i - 1)]:
    +0  name
    +1  revision as read
    +2  next run as read
    +3  new next run, '' for none
    +4  new due at, '' for none
    +5  runs to claim, comma-separated, ascending ('' for none)
  Returns {'fenced'} when the caller does not hold the lock; otherwise, per claim, 'stale'
  or the claimed runs comma-separated ('' when none).
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {'fenced'} end
local now = ARGV[2]
local keep = tonumber(ARGV[5])
local out = {}
local added = 0
for i = 1, #KEYS - 3 do
  local key = KEYS[3 + i]
  local a = 6 + 6 * (i - 1)
  local name = ARGV[a]
  local st = redis.call('HMGET', key, 'rev', 'nextRunAt', 'enabled', 'removed', 'claimedUntil', 'def', 'recent')
  if not st[6] or st[4] or st[3] ~= '1' or st[1] ~= ARGV[a + 1] or st[2] ~= ARGV[a + 2] then
    out[i] = 'stale'
  else
    local high = tonumber(st[5] or '')
    local claimed = {}
    for t in string.gmatch(ARGV[a + 5], '[^,]+') do
      local n = tonumber(t)
      if high == nil or n > high then
        claimed[#claimed + 1] = t
        high = n
      end
    end
    if #claimed > 0 then
      local last = claimed[#claimed]
      redis.call('HSET', key, 'claimedUntil', last, 'lastRunAt', last, 'lastDispatchedAt', now)
      redis.call('HINCRBY', key, 'runs', #claimed)
      local recent = {}
      for t in string.gmatch(st[7] or '', '[^,]+') do recent[#recent + 1] = t end
      for _, t in ipairs(claimed) do recent[#recent + 1] = t end
      local from = math.max(1, #recent - keep + 1)
      redis.call('HSET', key, 'recent', table.concat(recent, ',', from, #recent))
      for _, t in ipairs(claimed) do redis.call('ZADD', KEYS[3], now, name .. '\\n' .. t) end
      added = added + #claimed
    end
    redis.call('HSET', key, 'nextRunAt', ARGV[a + 3], 'dueAt', ARGV[a + 4])
    if ARGV[a + 4] == '' then
      redis.call('ZREM', KEYS[2], name)
    else
      redis.call('ZADD', KEYS[2], ARGV[a + 4], name)
    end
    out[i] = table.concat(claimed, ',')
  end
end
if added > 0 then
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
  local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[3])
  if over > 0 then redis.call('ZREMRANGEBYRANK', KEYS[3], 0, over - 1) end
end
return out
`;

export const ACQUIRE_LUA = `--[[
  acquire: takes the leader lock when it is free (with a new fencing number), or extends it
  when the caller already holds it.

  KEYS[1]  leader lock
  KEYS[2]  fencing counter
  ARGV[1]  owner id
  ARGV[2]  lock TTL, ms
  ARGV[3]  fencing counter TTL, ms
  Returns {1, token} when the caller holds the lock, else {0, holder's token, its PTTL}.
]]
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, ':', 1, true)
  if sep and string.sub(cur, sep + 1) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {1, cur}
  end
  return {0, cur, redis.call('PTTL', KEYS[1])}
end
local fence = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
local token = fence .. ':' .. ARGV[1]
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
return {1, token}
`;

export const RENEW_LUA = `--[[
  renew: extends the leader lock if the caller still holds it.

  KEYS[1]  leader lock
  ARGV[1]  fencing token
  ARGV[2]  lock TTL, ms
  Returns 1, or 0 when the lock is gone or someone else's.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

export const RELEASE_LUA = `--[[
  release: deletes the leader lock if the caller still holds it.

  KEYS[1]  leader lock
  ARGV[1]  fencing token
  Returns 1, or 0 when the lock is gone or someone else's.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;

export const UPSERT_SCRIPT = redisScript<UpsertStatus>(UPSERT_LUA);
export const REMOVE_SCRIPT = redisScript<number>(REMOVE_LUA);
export const SET_ENABLED_SCRIPT = redisScript<number>(SET_ENABLED_LUA);
/** `['fenced']`, or per claim `'stale'` or its claimed runs comma-separated. */
export const CLAIM_SCRIPT = redisScript<string[]>(CLAIM_LUA);
/** `[1, token]` when the caller holds the lock, else `[0, holder's token, its PTTL]`. */
export const ACQUIRE_SCRIPT = redisScript<[number, string, number?]>(ACQUIRE_LUA);
export const RENEW_SCRIPT = redisScript<number>(RENEW_LUA);
export const RELEASE_SCRIPT = redisScript<number>(RELEASE_LUA);
