import { expect, it } from 'vitest';
import { compileEntry, definitionHash } from '../entry.js';
import { interval } from '../schedules/interval.js';
import { MemoryScheduleStore } from './memory-schedule-store.js';
import { scheduleStoreContract } from './schedule-store-contract.test-helper.js';

scheduleStoreContract('MemoryScheduleStore', () => {
  const store = new MemoryScheduleStore();
  return Promise.resolve({ store, cleanup: () => store.close() });
});

it('MemoryScheduleStore caps its entries and refuses use after close', async () => {
  const store = new MemoryScheduleStore({ maxEntries: 1 });
  const w = (name: string) => {
    const { definition } = compileEntry(
      { name, task: 't', schedule: interval(60) },
      { timezone: 'UTC' },
    );
    return {
      definition,
      hash: definitionHash(definition),
      enabled: true,
      source: 'api' as const,
      nextRunAt: 0,
      dueAt: 0,
    };
  };
  expect(await store.upsert([w('a'), w('b')], 'sync', 0)).toEqual([
    { name: 'a', status: 'created' },
    { name: 'b', status: 'full' },
  ]);
  await store.close();
  await store.close();
  expect(() => store.list()).toThrow(/closed/);
});
