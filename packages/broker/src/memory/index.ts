/**
 * `@celeriac/broker/memory`: the in-process broker.
 */
export { MemoryBroker } from './memory-broker.js';
export type { MemoryBrokerOptions } from './memory-broker-options.js';
export { MemoryCoordination } from './memory-coordination.js';
export type { MemoryCoordinationOptions } from './memory-coordination.js';
