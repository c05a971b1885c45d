import { redisScript } from '../internal/index.js';

/** Redis's own clock in epoch ms, so every process compares against the same time. */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

export const ANNOUNCE_MOVER_LUA = `--[[
  announce-mover: a Celeriac consumer says it moves these queues' delayed messages when due.

  KEYS[i]  a queue's movers set (score: when the announcement lapses, Redis time in ms)
  ARGV[1]  the consumer's member id
  ARGV[2]  how long the announcement holds, ms
  Drops lapsed members; returns 1.
]]
${NOW}
local ttl = tonumber(ARGV[2])
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  redis.call('ZADD', KEYS[i], now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], ttl)
end
return 1
`;

export const ANNOUNCE_MOVER_SCRIPT = redisScript<number>(ANNOUNCE_MOVER_LUA);

export const HAS_MOVER_LUA = `--[[
  has-mover: whether a live Celeriac consumer moves this queue's delayed messages.

  KEYS[1]  the queue's movers set
  Returns how many announcements have not lapsed.
]]
${NOW}
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
`;

export const HAS_MOVER_SCRIPT = redisScript<number>(HAS_MOVER_LUA);
