/**
 * `@celeriac/broker/memory/internal`: plumbing the other Celeriac packages share with the
 * memory broker (the result backend's `memory://` URLs). Not public API: it may change in any
 * release, without notice.
 */
export { DEFAULT_MEMORY_NAMESPACE, parseMemoryUrl } from './memory-url.js';
