import { redisScript } from '../internal/index.js';
import { WAKE } from './wake.js';

/** The consumer side: taking ready messages into kombu's in-flight records, one atomic step. Keys come from `../keys.ts`. */

export const FETCH_LUA = `--[[
  fetch: moves the consumer's due delayed messages to their ready lists, then takes up to
  ARGV[1] ready messages and records each in kombu's unacked / unacked_index, in one atomic
  step: a message is never off its list without being recorded as in flight.
  Lower priority steps are served first; within a step the queues take turns, starting with
  the first one given (the caller rotates the order from call to call).

  A fetch is idempotent: it records what it took in a receipt (KEYS[3]), and the same call
  made again (its reply was lost with the connection, and ioredis or the consumer sent it
  again) returns those messages, still in flight, rather than taking more and leaving the
  first ones in unacked with nobody holding them. The consumer's next fetch drops the
  receipt of the one before (KEYS[4]).

  KEYS[1]          unacked        hash  tag -> JSON [envelope, exchange, routing_key]
  KEYS[2]          unacked_index  zset  tag -> delivery time, epoch seconds
  KEYS[3]          this fetch's receipt: JSON [queueIndex, tag, envelope length, ...]
  KEYS[4]          the receipt to drop (the consumer's previous fetch), or KEYS[3] for none
  for queue i = 0 .. n-1, six keys from 5 + 6*i:
    +0 .. +3       ready lists for priority steps 0, 3, 6, 9
    +4             delayed set (score: due epoch ms; member: step index digit .. envelope)
    +5             wake list
  ARGV[1]          most messages to take
  ARGV[2]          now, epoch ms
  ARGV[3]          now, epoch seconds as a decimal string (the unacked_index score)
  ARGV[4]          most delayed messages to move per queue in this call
  ARGV[5]          wake list TTL, ms
  ARGV[6]          receipt TTL, ms
  ARGV[7 .. 6+n]   the queue names, in key order (routing key when an envelope lacks one)

  Returns { nextDue, moreDue, then per message taken: queueIndex, envelope, tag }
    nextDue     earliest due time (epoch ms, string) left in the delayed sets, '' if none
    moreDue     1 when a delayed set has due messages beyond the move limit (or the reply is
                a receipt's: fetch again at once), else 0
    queueIndex  0-based, in the order given
]]
${WAKE}
local max = tonumber(ARGV[1])
local now = ARGV[2]
local score = ARGV[3]
local moveLimit = tonumber(ARGV[4])
local wakeTtl = ARGV[5]
local n = (#KEYS - 4) / 6
local moreDue = 0

if KEYS[4] ~= KEYS[3] then redis.call('DEL', KEYS[4]) end
local done = redis.call('GET', KEYS[3])
if done then
  -- This fetch ran before and its reply was lost: hand back what it took, if still in flight.
  local out = { '', 1 }
  local r = cjson.decode(done)
  for i = 1, #r, 3 do
    local entry = redis.call('HGET', KEYS[1], r[i + 1])
    if entry then
      local raw
      if r[i + 2] >= 0 then raw = string.sub(entry, 2, 1 + r[i + 2]) else raw = cjson.decode(entry)[1] end
      out[#out + 1] = r[i]
      out[#out + 1] = raw
      out[#out + 1] = r[i + 1]
    end
  end
  return out
end
local receipt = {}

for i = 0, n - 1 do
  local base = 5 + 6 * i
  local due = redis.call('ZRANGEBYSCORE', KEYS[base + 4], '-inf', now, 'LIMIT', 0, moveLimit + 1)
  local count = #due
  if count > moveLimit then
    moreDue = 1
    count = moveLimit
  end
  for j = 1, count do
    local member = due[j]
    redis.call('ZREM', KEYS[base + 4], member)
    redis.call('LPUSH', KEYS[base + tonumber(string.sub(member, 1, 1))], string.sub(member, 2))
  end
end

local out = { '', moreDue }
local exhausted = {}
local start = 0
local taken = 0
-- unacked / unacked_index writes, sent as one HSET and one ZADD per chunk of messages rather
-- than one each: fewer commands for Redis to dispatch. Still one atomic step with the RPOPs.
local hsetArgs = {}
local zaddArgs = {}
local function record()
  if #hsetArgs > 0 then
    redis.call('HSET', KEYS[1], unpack(hsetArgs))
    redis.call('ZADD', KEYS[2], unpack(zaddArgs))
    hsetArgs = {}
    zaddArgs = {}
  end
end
while taken < max do
  local got = false
  for s = 0, 3 do
    for j = 0, n - 1 do
      local qi = (start + j) % n
      local k = 5 + 6 * qi + s
      if not exhausted[k] then
        local raw = redis.call('RPOP', KEYS[k])
        if raw then
          local tag, ex, rk
          local stored = raw
          local ok, env = pcall(cjson.decode, raw)
          if ok and type(env) == 'table' then
            local p = env.properties
            if type(p) == 'table' then
              if type(p.delivery_tag) == 'string' and p.delivery_tag ~= '' then tag = p.delivery_tag end
              local di = p.delivery_info
              if type(di) == 'table' then
                if type(di.exchange) == 'string' then ex = di.exchange end
                if type(di.routing_key) == 'string' then rk = di.routing_key end
              end
            end
          else
            -- not JSON: store it as a JSON string so kombu can still parse the entry
            stored = cjson.encode(raw)
          end
          if not tag then
            tag = 'celeriac-untagged-' .. redis.sha1hex(raw) .. '-' .. now .. '-' .. taken
          end
          if not ex then ex = '' end
          if not rk then rk = ARGV[7 + qi] end
          local h = #hsetArgs
          hsetArgs[h + 1] = tag
          hsetArgs[h + 2] = '[' .. stored .. ', ' .. cjson.encode(ex) .. ', ' .. cjson.encode(rk) .. ']'
          zaddArgs[h + 1] = score
          zaddArgs[h + 2] = tag
          -- The first message is recorded at once: if the unacked keys cannot take it (a
          -- WRONGTYPE), the script stops having taken one message, not a batch of them.
          if taken == 0 or h + 2 >= 1000 then record() end
          out[#out + 1] = qi
          out[#out + 1] = raw
          out[#out + 1] = tag
          receipt[#receipt + 1] = qi
          receipt[#receipt + 1] = tag
          receipt[#receipt + 1] = stored == raw and #raw or -1
          taken = taken + 1
          start = (qi + 1) % n
          got = true
          break
        end
        exhausted[k] = true
      end
    end
    if got then break end
  end
  if not got then break end
end
record()

local nextDue = nil
for i = 0, n - 1 do
  local base = 5 + 6 * i
  local left = false
  if taken >= max then
    for s = 0, 3 do
      if not exhausted[base + s] and redis.call('LLEN', KEYS[base + s]) > 0 then
        left = true
        break
      end
    end
  end
  if left then
    -- more than this consumer can hold: pass the wake-up on to the next idle consumer
    wake(KEYS[base + 5], wakeTtl)
  else
    redis.call('DEL', KEYS[base + 5])
  end
  local first = redis.call('ZRANGE', KEYS[base + 4], 0, 0, 'WITHSCORES')
  if first[2] then
    local d = tonumber(first[2])
    if nextDue == nil or d < nextDue then nextDue = d end
  end
end
if nextDue ~= nil then out[1] = string.format('%.0f', nextDue) end
if taken > 0 then redis.call('SET', KEYS[3], cjson.encode(receipt), 'PX', ARGV[6]) end
return out
`;

export const FETCH_SCRIPT = redisScript<(string | number)[]>(FETCH_LUA, { direct: true });
