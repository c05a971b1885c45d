import { Celeriac } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { uniqueName } from '@celeriac/testing';
import { Worker } from './index.js';

/** Where the canvas tests run (RabbitMQ with the Redis result backend). */
export type CanvasTransport = 'memory' | 'redis' | 'rabbitmq';

export interface CanvasApps<T> {
  client: Celeriac;
  tasks: T;
  /** Unique to this run: what the tasks record their calls under. */
  tag: string;
  close(): Promise<void>;
}

/**
 * A client app and a worker on `transport`, the tasks `define` registers on both. The client
 * and the worker are separate apps except on memory:// (one process-local broker), so every
 * step a worker sends goes through the worker's own `sendSignature`.
 */
export async function startCanvasApps<T>(
  transport: CanvasTransport,
  urls: { redis: string; rabbitmq: () => string },
  prefix: string,
  define: (app: Celeriac, tag: string) => T,
): Promise<CanvasApps<T>> {
  const queue = uniqueName(prefix);
  const tag = uniqueName(`${prefix}-${transport}`);
  let client: Celeriac;
  let workerApp: Celeriac;
  if (transport === 'memory') {
    const url = `memory://${tag}`;
    client = new Celeriac({ broker: url, backend: url, logger: silentLogger, defaultQueue: queue });
    workerApp = client;
  } else {
    const broker = transport === 'redis' ? urls.redis : urls.rabbitmq();
    const options = { broker, backend: urls.redis, logger: silentLogger, defaultQueue: queue };
    client = new Celeriac(options);
    workerApp = new Celeriac(options);
    define(workerApp, tag);
  }
  const tasks = define(client, tag);
  const worker = new Worker(workerApp, { concurrency: 4 });
  await worker.start();
  return {
    client,
    tasks,
    tag,
    close: async () => {
      await worker.shutdown({ timeout: 5 });
      if (workerApp !== client) await workerApp.close();
      await client.close();
    },
  };
}
