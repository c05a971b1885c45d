/**
 * `@celeriac/result-backend/memory`: the in-process result backend.
 */
export { MemoryResultBackend } from './memory-result-backend.js';
export type { MemoryResultBackendOptions } from './memory-result-backend.js';
