/**
 * `@celeriac/broker/memory`: the in-process broker.
 */
export { MemoryBroker } from './memory-broker.js';
export type { MemoryBrokerOptions } from './memory-broker-options.js';
