// Celeriac on the publishing side of the bench. Every run gets its own queue (and, on a shared
// Redis, its own result-key prefix), and deletes exactly its own keys afterwards.
import { Celeriac } from '@celeriac/client';
import { pino } from 'pino';
import { deleteMatching } from '../lib/redis-stats.js';
import { celeriacClientWorkloads } from '../lib/celeriac-client.js';

const DEFAULT_RESULT_PREFIX = 'celery-task-meta-';

export const celeriac = {
  id: 'celeriac',
  label: 'Celeriac',
  version: '0.1.0 (this tree)',
  workerScript: new URL('../workers/celeriac-worker.js', import.meta.url),

  /**
   * @param {{ url: string, token: string, shared: boolean, concurrency: number, prefetch?: number }} ctx
   */
  async open(ctx) {
    const queue = `bench-${ctx.token}`;
    // On our own throwaway server the result keys keep Celery's default names; on a shared
    // one they carry the run's token so cleanup can find exactly them.
    const resultKeyPrefix = ctx.shared ? `${DEFAULT_RESULT_PREFIX}bench-${ctx.token}-` : undefined;
    const app = new Celeriac({
      broker: ctx.url,
      backend: ctx.url,
      defaultQueue: queue,
      logger: pino({ level: 'warn' }),
      ...(resultKeyPrefix ? { backendOptions: { keyPrefix: resultKeyPrefix } } : {}),
    });
    const noop = app.task('bench.noop', () => null);
    await app.broker();
    await app.resultBackend();
    await app.declareQueue(queue);
    /** @type {string[]} ids of the tasks published, for verify() */
    const ids = [];

    return {
      workerConfig: {
        url: ctx.url,
        queue,
        concurrency: ctx.concurrency,
        ...(ctx.prefetch ? { prefetch: ctx.prefetch } : {}),
        ...(resultKeyPrefix ? { resultKeyPrefix } : {}),
      },

      ...celeriacClientWorkloads(noop, ids),

      /** The ids published through this handle (a W5 producer process reports them). */
      publishedIds: () => ids,

      /** Ids published elsewhere (by W5's producer processes), for verify(). */
      recordIds(list) {
        for (const id of list) ids.push(id);
      },

      /** Every published task has a SUCCESS document with result null in the backend. */
      async verify(n, admin) {
        const prefix = resultKeyPrefix ?? DEFAULT_RESULT_PREFIX;
        let success = 0;
        let missing = 0;
        const other = new Map();
        for (let i = 0; i < ids.length; i += 1000) {
          const docs = await admin.mget(...ids.slice(i, i + 1000).map((id) => prefix + id));
          for (const raw of docs) {
            if (raw === null) {
              missing++;
              continue;
            }
            const doc = JSON.parse(raw);
            if (doc.status === 'SUCCESS' && doc.result === null) success++;
            else other.set(doc.status, (other.get(doc.status) ?? 0) + 1);
          }
        }
        const ok = ids.length === n && success === n;
        ids.length = 0;
        return {
          ok,
          detail: `published=${n} SUCCESS=${success} missing=${missing} other=${JSON.stringify(Object.fromEntries(other))}`,
        };
      },

      close: () => app.close(),

      /**
       * Deletes this run's keys: everything named after the queue (ready, wake, delayed and
       * dead-letter lists), and on our own server the default-named result keys. In kombu's
       * shared keys it removes only what is ours: the queue's binding, and any unacked entry
       * for the queue (none once every message was acked; some if a run was cut short).
       */
      async cleanup(admin) {
        let n = await deleteMatching(admin, `*${ctx.token}*`);
        if (!ctx.shared) n += await deleteMatching(admin, `${DEFAULT_RESULT_PREFIX}*`);
        n += await removeBindings(admin, queue);
        n += await removeUnacked(admin, queue);
        return n;
      },
    };
  },
};

/** kombu's binding member for a queue bound by its own name: `<queue>\x06\x16<pattern>\x06\x16<queue>`. */
async function removeBindings(admin, queue) {
  let removed = 0;
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', '_kombu.binding.*', 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const members = (await admin.smembers(key)).filter((m) => m.split('\x06\x16')[2] === queue);
      if (members.length > 0) removed += await admin.srem(key, ...members);
    }
  } while (cursor !== '0');
  return removed;
}

/** Entries of kombu's `unacked` hash (and `unacked_index`) whose message was routed to `queue`. */
async function removeUnacked(admin, queue) {
  const tags = [];
  let cursor = '0';
  do {
    const [next, flat] = await admin.hscan('unacked', cursor, 'COUNT', 1000);
    cursor = next;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      try {
        const [, , routingKey] = JSON.parse(flat[i + 1]);
        if (routingKey === queue) tags.push(flat[i]);
      } catch {
        // not ours to judge
      }
    }
  } while (cursor !== '0');
  if (tags.length === 0) return 0;
  await admin.zrem('unacked_index', ...tags);
  return admin.hdel('unacked', ...tags);
}
