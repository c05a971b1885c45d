/**
 * Shared by the scripts that make a queue's ready messages visible to blocked consumers. The
 * token is pushed only onto an empty (absent) list, so the TTL is set when the key is created
 * and a busy queue's publishes do not renew it each time: the key either goes with the token
 * (a BRPOP takes it, a fetch that empties the queue deletes it) or expires unused.
 */
export const WAKE = `
local function wake(key, ttl)
  if redis.call('LLEN', key) == 0 then
    redis.call('LPUSH', key, '1')
    redis.call('PEXPIRE', key, ttl)
  end
end
`;
