import { afterAll, beforeAll } from 'vitest';
import type { ResultBackend, ResultDocument, StoreOptions } from '@celeriac/core';
import {
  rabbitMqForTests,
  resultBackendConformance,
  type RabbitMqForTests,
} from '@celeriac/testing';
import { RpcResultBackend } from './index.js';

// AMQP_URL, else a throwaway RabbitMQ node for this file (never the machine's node at 5672).
let rabbit: RabbitMqForTests | undefined;
beforeAll(async () => {
  rabbit = await rabbitMqForTests();
});
afterAll(async () => {
  await rabbit?.release();
});

/**
 * rpc results go to the queue the task named in `reply_to`, read by the process that owns it.
 * The suite's first backend in a test plays that client; every further one plays a worker,
 * which sends what it stores to the client's queue, as a worker would send to the `reply_to`
 * of the task it ran (the suite's `store()` calls carry no task message to take it from).
 */
let client: RpcResultBackend | undefined;
resultBackendConformance(
  'RpcResultBackend',
  () => {
    const backend = new RpcResultBackend({ url: 'rpc://', brokerUrl: rabbit!.url });
    if (client === undefined || client.state === 'closed') {
      client = backend;
      return Promise.resolve({ backend, close: () => backend.close() });
    }
    const replyTo = client.replyTo;
    const worker: ResultBackend = {
      kind: backend.kind,
      store: (doc: ResultDocument, options?: StoreOptions) =>
        backend.store(doc, { ...options, replyTo }),
      get: (id) => backend.get(id),
      getMany: (ids) => backend.getMany(ids),
      waitFor: (id, o) => backend.waitFor(id, o),
      forget: (id) => backend.forget(id),
      close: () => backend.close(),
    };
    return Promise.resolve({ backend: worker, close: () => backend.close() });
  },
  { expiresMs: 300 },
);
