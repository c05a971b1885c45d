import { redisScript } from '../internal/index.js';
import { WAKE } from './wake.js';

/** The producer side: publishing to ready lists, and holding a message until its due time. Keys come from `../keys.ts`. */

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

export const PUBLISH_SCRIPT = redisScript<(number | string)[]>(PUBLISH_LUA, { direct: true });

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

export const DELAY_SCRIPT = redisScript<number>(DELAY_LUA);
