/**
 * The Redis broker's atomic operations, one Lua script each. Every script names its KEYS and
 * ARGV in its header. `runScript` (`./internal`) sends EVALSHA and falls back to EVAL when
 * the server lacks the script (NOSCRIPT). All keys come from `keys.ts`.
 *
 * Scripts never decode and re-encode a kombu envelope: cjson would turn `[]` into `{}` and
 * round large numbers. They read fields from a decoded copy and store the original bytes.
 */
export { PUBLISH_LUA, PUBLISH_SCRIPT, DELAY_LUA, DELAY_SCRIPT } from './publish-scripts.js';
export { FETCH_LUA, FETCH_SCRIPT } from './fetch-script.js';
export {
  SETTLE_BACK_LUA,
  SETTLE_BACK_SCRIPT,
  DEAD_LETTER_LUA,
  DEAD_LETTER_SCRIPT,
} from './settle-scripts.js';
export {
  RESTORE_LUA,
  RESTORE_SCRIPT,
  RELEASE_LOCK_LUA,
  RELEASE_LOCK_SCRIPT,
} from './restore-scripts.js';
export { PURGE_LISTS_LUA, PURGE_LISTS_SCRIPT, REPLAY_LUA, REPLAY_SCRIPT } from './admin-scripts.js';
export {
  ANNOUNCE_MOVER_LUA,
  ANNOUNCE_MOVER_SCRIPT,
  HAS_MOVER_LUA,
  HAS_MOVER_SCRIPT,
} from './mover-scripts.js';
export { CLUSTER_SCRIPTS, CLUSTER_WAKE, KOMBU_SCRIPTS } from './cluster-scripts.js';
export type { WakingScripts } from './cluster-scripts.js';
