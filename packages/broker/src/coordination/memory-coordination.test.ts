import { coordinationConformance } from '@celeriac/testing';
import { MemoryCoordination } from './memory-coordination.js';

coordinationConformance('MemoryCoordination', async () => {
  const url = `memory://coord-${Math.random().toString(36).slice(2)}`;
  const a = new MemoryCoordination({ url });
  const b = new MemoryCoordination({ url });
  return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
});
