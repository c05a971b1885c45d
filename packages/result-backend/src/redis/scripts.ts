import { redisScript } from '@celeriac/broker/redis/internal';

/**
 * Lua scripts, one per atomic Redis operation, each run with EVALSHA (EVAL when the server
 * lacks it). Its header names every KEYS and ARGV entry.
 */

/**
 * Celery's `_store_result` reads the stored document and skips the write when it is a
 * SUCCESS, then SETEX + PUBLISH; the read and the write are two round trips, so a redelivered
 * task finishing late can still overwrite a result. Here the check, the write and the
 * publish are one atomic step. A stored value is read as msgpack when its first byte starts a
 * msgpack map and as JSON otherwise (see `result-codec.ts`); one that is neither (written with
 * another serializer) does not count as a SUCCESS and is overwritten. Payloads are binary-safe:
 * Lua strings and script arguments carry msgpack bytes unchanged.
 *
 * Many stores go in one call, with the commands that ack their tasks' messages (from the
 * broker's `Delivery.fusedAck`, a `RedisFusedAck`), so the results a worker finishes in one turn of its event
 * loop cost one round trip and one script run, not one each. A document's ack runs only
 * after its write succeeded: a SET refused (say, by maxmemory, which still allows the HDEL of
 * an ack) skips that document's ack, so a message is never acked without its result. A kept
 * SUCCESS still acks. Each document's commands run under `redis.pcall`, so one that fails (a
 * WRONGTYPE key, a refused write) does not stop the others; its failure comes back in its
 * slot.
 *
 * Ack commands travel as templates (every word but the last, sent once per call) and, per
 * document, a template index and the last word. A template whose command takes many last
 * words at once with the same effect as one each (HDEL, ZREM, SREM, DEL, UNLINK: the caller
 * marks it) runs once for all documents, after their writes: kombu's HDEL + ZREM ack of 50
 * messages is two commands rather than a hundred.
 */
export const STORE_MANY_LUA = `
-- store-many
-- KEYS[i]  document i's result key, celery-task-meta-<task id>; also its pub/sub channel
-- ARGV[1]  how long the documents live, in milliseconds (a positive integer)
-- ARGV[2]  t, the number of ack command templates
-- then per template: 1 when it runs once with every document's last word (else 0), its word
--          count w, then its w words (name first: the command but its last word)
-- then per document i, in KEYS order: the encoded result document (JSON or msgpack), the number
--          k of its ack commands, then per command: its template (1-based), its last word
-- Returns one entry per document: 1 stored and published, 0 a stored SUCCESS kept (its ack
-- still ran), or an error text, 'store: <error>' (nothing written, no ack) or
-- 'ack: <error>' (written, the ack failed part way).
local ttl = ARGV[1]
local templates = {}
local a = 3
for j = 1, tonumber(ARGV[2]) do
  local w = tonumber(ARGV[a + 1])
  templates[j] = { merge = ARGV[a] == '1', first = a + 2, last = a + 1 + w, tails = {}, docs = {} }
  a = a + 2 + w
end

local function command(tpl, tails, from, to)
  local words = { unpack(ARGV, tpl.first, tpl.last) }
  for x = from, to do words[#words + 1] = tails[x] end
  return redis.pcall(unpack(words))
end

local out = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local payload = ARGV[a]
  local acks = tonumber(ARGV[a + 1])
  a = a + 2
  local failure = nil
  local stored = 1
  local current = redis.pcall('GET', key)
  if type(current) == 'table' and current.err then
    failure = 'store: ' .. current.err
  elseif current and string.find(current, 'SUCCESS', 1, true) then
    -- Decoding costs time in proportion to the document; only a SUCCESS is worth decoding.
    -- A msgpack map starts with 0x80-0x8f, 0xde or 0xdf, a JSON document never does.
    local b = string.byte(current, 1)
    local decode = cjson.decode
    if b and ((b >= 0x80 and b <= 0x8f) or b == 0xde or b == 0xdf) then decode = cmsgpack.unpack end
    local ok, doc = pcall(decode, current)
    if ok and type(doc) == 'table' and doc['status'] == 'SUCCESS' then stored = 0 end
  end
  if not failure and stored == 1 then
    local r = redis.pcall('SET', key, payload, 'PX', ttl)
    if type(r) == 'table' and r.err then
      failure = 'store: ' .. r.err
    else
      redis.call('PUBLISH', key, payload)
    end
  end
  for _ = 1, acks do
    local tpl = templates[tonumber(ARGV[a])]
    if not failure then
      if tpl.merge then
        tpl.tails[#tpl.tails + 1] = ARGV[a + 1]
        tpl.docs[#tpl.docs + 1] = i
      else
        local r = command(tpl, ARGV, a + 1, a + 1)
        if type(r) == 'table' and r.err then failure = 'ack: ' .. r.err end
      end
    end
    a = a + 2
  end
  out[i] = failure or stored
end

for j = 1, #templates do
  local tpl = templates[j]
  local n = #tpl.tails
  local from = 1
  while from <= n do
    local to = math.min(n, from + 999)
    local r = command(tpl, tpl.tails, from, to)
    if type(r) == 'table' and r.err then
      for x = from, to do
        local d = tpl.docs[x]
        if type(out[d]) == 'number' then out[d] = 'ack: ' .. r.err end
      end
    end
    from = to + 1
  end
end
return out
`;

/**
 * Sent straight to the connection (never auto-pipelined: a call is a batch already) by the
 * broker's one EVALSHA runner, `runScript` (`@celeriac/broker/redis/internal`).
 */
export const STORE_MANY_SCRIPT = redisScript<(number | string)[]>(STORE_MANY_LUA, { direct: true });
