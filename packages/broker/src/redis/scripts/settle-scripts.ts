import { redisScript } from '../internal/index.js';
import { WAKE } from './wake.js';

/** A delivery's settles other than ack: back to its queue, or to its dead letters. Keys come from `../keys.ts`. */

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

export const SETTLE_BACK_SCRIPT = redisScript<number>(SETTLE_BACK_LUA);

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

export const DEAD_LETTER_SCRIPT = redisScript<number>(DEAD_LETTER_LUA);
