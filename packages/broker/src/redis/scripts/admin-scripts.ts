import { redisScript } from '../internal/index.js';
import { WAKE } from './wake.js';

/** Operator commands: purging lists and replaying dead letters. Keys come from `../keys.ts`. */

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

export const PURGE_LISTS_SCRIPT = redisScript<number>(PURGE_LISTS_LUA);

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

export const REPLAY_SCRIPT = redisScript<number>(REPLAY_LUA);
