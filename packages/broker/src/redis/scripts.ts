import { createHash } from 'node:crypto';
import { Command, type Redis } from 'ioredis';

/**
 * The Redis broker's atomic operations, one Lua script each. Every script names its KEYS and
 * ARGV in its header. `runScript` sends EVALSHA and falls back to EVAL when the server lacks
 * the script (NOSCRIPT). All keys come from `keys.ts`.
 *
 * Scripts never decode and re-encode a kombu envelope: cjson would turn `[]` into `{}` and
 * round large numbers. They read fields from a decoded copy and store the original bytes.
 */

/**
 * Shared by the scripts that make a queue's ready messages visible to blocked consumers. The
 * token is pushed only onto an empty (absent) list, so the TTL is set when the key is created
 * and a busy queue's publishes do not renew it each time: the key either goes with the token
 * (a BRPOP takes it, a fetch that empties the queue deletes it) or expires unused.
 */
const WAKE = `
local function wake(key, ttl)
  if redis.call('LLEN', key) == 0 then
    redis.call('LPUSH', key, '1')
    redis.call('PEXPIRE', key, ttl)
  end
end
`;

export const PUBLISH_LUA = `--[[
  publish: adds messages to queues the way kombu does (LPUSH; consumers take from the right),
  and leaves a wake token for consumers blocked on each queue's wake list. The messages
  published in one turn of the publisher's event loop come in one call, in runs: consecutive
  messages for one ready list, pushed with one LPUSH (the first given is served first).

  KEYS[1..]  ready lists (a queue, or <queue>\\x06\\x16<step> for a priority step) and wake lists,
             referenced by index from ARGV
  ARGV[1]    wake list TTL, ms
  then per run: its ready list's KEYS index, its wake list's KEYS index, the number of
  envelopes n, then the n kombu envelopes (JSON)
  Returns per run: the ready list's length after the push, or the error text when the LPUSH
  was refused (that run is not published; the others are).
]]
${WAKE}
local out = {}
local woken = {}
local i = 2
while i <= #ARGV do
  local n = tonumber(ARGV[i + 2])
  local len = redis.pcall('LPUSH', KEYS[tonumber(ARGV[i])], unpack(ARGV, i + 3, i + 2 + n))
  if type(len) == 'table' and len.err then
    out[#out + 1] = len.err
  else
    local w = KEYS[tonumber(ARGV[i + 1])]
    if not woken[w] then
      wake(w, ARGV[1])
      woken[w] = true
    end
    out[#out + 1] = len
  end
  i = i + 3 + n
end
return out
`;

export const DELAY_LUA = `--[[
  delay: holds a message until its due time in the queue's delayed set, and wakes blocked
  consumers so they shorten their wait to the new earliest due time.

  KEYS[1]  the queue's delayed set (score: due time, epoch ms)
  KEYS[2]  the queue's wake list
  ARGV[1]  due time, epoch ms
  ARGV[2]  member: the priority step index (one digit, 0..3) followed by the kombu envelope
  ARGV[3]  wake list TTL, ms
  Returns 1.
]]
${WAKE}
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
wake(KEYS[2], ARGV[3])
return 1
`;

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

export const SETTLE_BACK_LUA = `--[[
  settleBack: gives an in-flight message back to its queue, only if it is still in flight
  (a restorer may have handed it to someone else already).

  KEYS[1]  unacked
  KEYS[2]  unacked_index
  KEYS[3]  ready list to push to
  KEYS[4]  the queue's wake list
  ARGV[1]  delivery tag
  ARGV[2]  envelope to push (marked redelivered by the caller when it was delivered)
  ARGV[3]  'left': LPUSH, the back of the queue; 'right': RPUSH, served next
  ARGV[4]  wake list TTL, ms
  Returns 1 when the message went back, 0 when it was no longer in flight.
]]
${WAKE}
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
if ARGV[3] == 'right' then
  redis.call('RPUSH', KEYS[3], ARGV[2])
else
  redis.call('LPUSH', KEYS[3], ARGV[2])
end
wake(KEYS[4], ARGV[4])
return 1
`;

export const DEAD_LETTER_LUA = `--[[
  deadLetter: moves an in-flight message to its queue's dead letters, only if it is still in
  flight, and keeps the dead-letter list capped and expiring.

  KEYS[1]  unacked
  KEYS[2]  unacked_index
  KEYS[3]  the queue's dead-letter list
  ARGV[1]  delivery tag
  ARGV[2]  dead-letter entry (JSON)
  ARGV[3]  most entries kept
  ARGV[4]  dead-letter list TTL, ms
  Returns 1 when the message was dead-lettered, 0 when it was no longer in flight.
]]
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[3], ARGV[2])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[3]) - 1)
redis.call('PEXPIRE', KEYS[3], ARGV[4])
return 1
`;

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

export const PURGE_LISTS_LUA = `--[[
  purgeLists: deletes lists and says how many elements they held, atomically.

  KEYS[1..]  the lists
  Returns the number of elements deleted.
]]
local n = 0
for i = 1, #KEYS do
  n = n + redis.call('LLEN', KEYS[i])
  redis.call('DEL', KEYS[i])
end
return n
`;

export const REPLAY_LUA = `--[[
  replay: moves dead letters back to their queues; each entry only if it is still in the
  dead-letter list, so two concurrent replays never publish one message twice. Entries are
  searched from the tail (LREM -1), where the oldest ones are.

  KEYS[1]    the dead-letter list
  KEYS[2..]  ready lists and wake lists, referenced by index from ARGV
  ARGV[1]    wake list TTL, ms
  then per entry: the entry (exact list element), envelope to push, ready list KEYS index,
  wake list KEYS index
  Returns the number of messages replayed.
]]
${WAKE}
local replayed = 0
for i = 2, #ARGV, 4 do
  if redis.call('LREM', KEYS[1], -1, ARGV[i]) == 1 then
    redis.call('LPUSH', KEYS[tonumber(ARGV[i + 2])], ARGV[i + 1])
    wake(KEYS[tonumber(ARGV[i + 3])], ARGV[1])
    replayed = replayed + 1
  end
end
return replayed
`;

/** What each script replies. */
export interface ScriptReplies {
  celeriacBrokerPublish: (number | string)[];
  celeriacBrokerDelay: number;
  celeriacBrokerFetch: (string | number)[];
  celeriacBrokerSettleBack: number;
  celeriacBrokerDeadLetter: number;
  celeriacBrokerRestore: number;
  celeriacBrokerReleaseLock: number;
  celeriacBrokerPurgeLists: number;
  celeriacBrokerReplay: number;
}

export type ScriptName = keyof ScriptReplies;

const SCRIPTS: Record<ScriptName, string> = {
  celeriacBrokerPublish: PUBLISH_LUA,
  celeriacBrokerDelay: DELAY_LUA,
  celeriacBrokerFetch: FETCH_LUA,
  celeriacBrokerSettleBack: SETTLE_BACK_LUA,
  celeriacBrokerDeadLetter: DEAD_LETTER_LUA,
  celeriacBrokerRestore: RESTORE_LUA,
  celeriacBrokerReleaseLock: RELEASE_LOCK_LUA,
  celeriacBrokerPurgeLists: PURGE_LISTS_LUA,
  celeriacBrokerReplay: REPLAY_LUA,
};

const SHAS = Object.fromEntries(
  Object.entries(SCRIPTS).map(([name, lua]) => [
    name,
    createHash('sha1').update(lua).digest('hex'),
  ]),
) as Record<ScriptName, string>;

/**
 * Scripts written to the connection at once rather than through ioredis auto-pipelining:
 * each call is a batch already (a turn's publishes, a fetch of up to the free prefetch
 * slots), which auto-pipelining would only hold back to the next setImmediate and wrap in a
 * pipeline of one (ioredis builds every Pipeline by copying all defined commands onto it).
 */
const DIRECT: ReadonlySet<ScriptName> = new Set<ScriptName>([
  'celeriacBrokerPublish',
  'celeriacBrokerFetch',
]);

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.includes('NOSCRIPT');
}

/**
 * Runs a script with its keys and args: EVALSHA, and EVAL with the body when the server does
 * not have it (first use, or after a restart flushed its script cache). Not ioredis
 * `defineCommand`: its script commands keep their replies reachable well past their
 * resolution (measured: a loop of 200-element script replies had 11 MB of 13.5 MB allocated
 * survive each scavenge, against 2 KB for the same EVALSHA sent as a plain command), and
 * a worker's fetch replies are most of what it allocates, so every reply was promoted to
 * the old generation and the young generation grew to its cap.
 */
export function runScript<K extends ScriptName>(
  client: Redis,
  name: K,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<ScriptReplies[K]> {
  const direct = DIRECT.has(name);
  const send = (verb: 'evalsha' | 'eval', script: string): Promise<unknown> => {
    if (!direct) return client.call(verb, script, keys.length, ...keys, ...args);
    const command = new Command(verb, [script, keys.length, ...keys, ...args], {
      replyEncoding: 'utf8',
    });
    client.sendCommand(command);
    return command.promise as Promise<unknown>;
  };
  return send('evalsha', SHAS[name]).catch((err: unknown) => {
    if (!isNoScript(err)) throw err;
    return send('eval', SCRIPTS[name]);
  }) as Promise<ScriptReplies[K]>;
}
