import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, isCeleriacError, type BrokerMessage } from '@celeriac/core';
import { startRabbitMqServer, uniqueName, type RabbitMqServerHandle } from '@celeriac/testing';
import { AmqpBroker } from './index.js';

// A node of this test's own: it is killed and started again mid-test.
let server: RabbitMqServerHandle;
beforeAll(async () => {
  server = await startRabbitMqServer();
});
afterAll(async () => {
  await server?.stop();
});

function msg(id: string): BrokerMessage {
  return {
    body: Buffer.from(
      JSON.stringify([[id], {}, { callbacks: null, errbacks: null, chain: null, chord: null }]),
    ),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: { lang: 'js', task: 'restart.task', id },
    properties: { correlation_id: id, reply_to: '', delivery_mode: 2 },
  };
}

async function eventually(what: string, predicate: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

describe('AmqpBroker across a RabbitMQ restart', () => {
  it('loses none of 5,000 tasks when the node is killed and restarted midway, with one consumer throughout', async () => {
    const broker = new AmqpBroker({
      url: server.url,
      connectTimeoutMs: 60_000,
      reconnectMaxDelayMs: 500,
    });
    const q = uniqueName('restart');
    const total = 5000;
    const ids = Array.from({ length: total }, (_, i) => `task-${i}`);
    const seen = new Map<string, number>();
    const errors: Error[] = [];
    try {
      const consumer = await broker.consume({
        queues: [q],
        prefetch: 100,
        onMessage: (d) => {
          const id = String(d.message.headers['id']);
          seen.set(id, (seen.get(id) ?? 0) + 1);
          // A little work before the ack, so that messages are in flight when the node dies.
          setTimeout(() => void d.ack(), 2);
        },
        onError: (e) => errors.push(e),
      });

      // Publish in paced batches while the consumer works, so the restart hits both directions.
      let published = 0;
      const publishing = (async () => {
        for (let i = 0; i < total; i += 50) {
          await broker.publishMany(
            ids.slice(i, i + 50).map((id) => ({ queue: q, message: msg(id) })),
          );
          published += 50;
          await sleep(10);
        }
      })();

      await eventually('a third of the tasks', () => seen.size >= total / 3, 60_000);
      const publishedAtRestart = published;
      await server.restart({ hard: true });
      expect(publishedAtRestart).toBeLessThan(total);

      await publishing;
      await eventually('every task', () => seen.size === total, 90_000);
      expect([...seen.keys()].sort()).toEqual([...ids].sort());
      // The one consumer noticed the outage and resumed by itself.
      expect(errors.some((e) => isCeleriacError(e, ErrorCodes.BROKER_UNAVAILABLE))).toBe(true);
      expect((consumer as unknown as { state: string }).state).toBe('consuming');
      const duplicates = [...seen.values()].filter((n) => n > 1).length;
      console.log(
        `restart test: ${total} tasks, ${duplicates} delivered more than once (at least once)`,
      );
    } finally {
      await broker.close();
    }
  }, 180_000);
});
