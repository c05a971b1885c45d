import { redisScript, type RedisScript } from '../internal/index.js';
import { REPLAY_LUA, REPLAY_SCRIPT } from './admin-scripts.js';
import { FETCH_LUA, FETCH_SCRIPT } from './fetch-script.js';
import { DELAY_LUA, DELAY_SCRIPT, PUBLISH_LUA, PUBLISH_SCRIPT } from './publish-scripts.js';
import { RESTORE_LUA, RESTORE_SCRIPT } from './restore-scripts.js';
import { SETTLE_BACK_LUA, SETTLE_BACK_SCRIPT } from './settle-scripts.js';
import { WAKE } from './wake.js';

/**
 * The cluster layout's wake-up: the same token in the shard's wake list (it marks "ready
 * messages since a fetch emptied the shard", so a busy shard's publishes add nothing), and
 * when the token is new a PUBLISH on a channel of the wake list's name, which a cluster
 * broadcasts to every node. A consumer cannot BRPOP the wake lists of several shards at once
 * (they are in different slots), so it listens on their channels instead (`consumer.ts`).
 */
export const CLUSTER_WAKE = `
local function wake(key, ttl)
  if redis.call('LLEN', key) == 0 then
    redis.call('LPUSH', key, '1')
    redis.call('PEXPIRE', key, ttl)
    redis.call('PUBLISH', key, '1')
  end
end
`;

function clusterVariant<R>(lua: string, like: RedisScript<R>): RedisScript<R> {
  if (!lua.includes(WAKE)) throw new Error('cluster script variant: the script has no wake()');
  return redisScript<R>(lua.replace(WAKE, CLUSTER_WAKE), {
    direct: like.direct,
    binary: like.binary,
  });
}

/** The scripts that wake consumers: one set per layout, the same Lua but for `wake()`. */
export interface WakingScripts {
  readonly publish: typeof PUBLISH_SCRIPT;
  readonly delay: typeof DELAY_SCRIPT;
  readonly fetch: typeof FETCH_SCRIPT;
  readonly settleBack: typeof SETTLE_BACK_SCRIPT;
  readonly replay: typeof REPLAY_SCRIPT;
  readonly restore: typeof RESTORE_SCRIPT;
}

export const KOMBU_SCRIPTS: WakingScripts = {
  publish: PUBLISH_SCRIPT,
  delay: DELAY_SCRIPT,
  fetch: FETCH_SCRIPT,
  settleBack: SETTLE_BACK_SCRIPT,
  replay: REPLAY_SCRIPT,
  restore: RESTORE_SCRIPT,
};

export const CLUSTER_SCRIPTS: WakingScripts = {
  publish: clusterVariant(PUBLISH_LUA, PUBLISH_SCRIPT),
  delay: clusterVariant(DELAY_LUA, DELAY_SCRIPT),
  fetch: clusterVariant(FETCH_LUA, FETCH_SCRIPT),
  settleBack: clusterVariant(SETTLE_BACK_LUA, SETTLE_BACK_SCRIPT),
  replay: clusterVariant(REPLAY_LUA, REPLAY_SCRIPT),
  restore: clusterVariant(RESTORE_LUA, RESTORE_SCRIPT),
};
