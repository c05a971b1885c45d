import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'amqplib';
import type { AmqpFusedAck, AmqpReply } from '@celeriac/broker/amqp/internal';
import { ErrorCodes, buildResultDocument, isCeleriacError, type Delivery } from '@celeriac/core';
import { amqpTarget } from '@celeriac/core/internal';
import { startRabbitMqServer, uniqueName, type RabbitMqServerHandle } from '@celeriac/testing';
import { RpcResultBackend, type RpcResultBackendOptions } from './index.js';

// Connections are dropped and the node restarted: a node of this file's own.
let server: RabbitMqServerHandle;
beforeAll(async () => {
  server = await startRabbitMqServer();
});
afterAll(async () => {
  await server?.stop();
});

const opened: RpcResultBackend[] = [];
afterEach(async () => {
  for (const b of opened.splice(0)) await b.close();
});
function open(o: Partial<RpcResultBackendOptions> = {}): RpcResultBackend {
  const b = new RpcResultBackend({
    url: 'rpc://',
    brokerUrl: server.url,
    reconnectMaxDelayMs: 500,
    ...o,
  });
  opened.push(b);
  return b;
}

function success(taskId: string, result: unknown = 'ok') {
  return buildResultDocument({ taskId, status: 'SUCCESS', result, dateDone: new Date() });
}

async function queueExists(name: string): Promise<boolean> {
  const c = await connect(server.url);
  try {
    const ch = await c.createChannel();
    ch.on('error', () => undefined);
    await ch.checkQueue(name);
    return true;
  } catch {
    return false;
  } finally {
    await c.close().catch(() => undefined);
  }
}

function fakeDelivery(replyTo: string | undefined, onAck: () => void): Delivery {
  return {
    message: {
      body: Buffer.from('[]'),
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      headers: {},
      properties: replyTo === undefined ? {} : { reply_to: replyTo, correlation_id: 'c' },
    },
    queue: 'q',
    deliveryTag: 't',
    redelivered: false,
    ack: () => {
      onAck();
      return Promise.resolve();
    },
    requeue: () => Promise.resolve(),
    deadLetter: () => Promise.resolve(),
  };
}

describe('RpcResultBackend on RabbitMQ', () => {
  it('declares a non-durable reply queue that expires, and deletes it on close', async () => {
    const client = open();
    await client.declareReplyQueue();
    expect(await queueExists(client.replyTo)).toBe(true);
    const listed = await server.ctl([
      'list_queues',
      'name',
      'durable',
      'arguments',
      '--formatter',
      'json',
    ]);
    const q = (
      JSON.parse(listed) as { name: string; durable: boolean; arguments: unknown[] }[]
    ).find((x) => x.name === client.replyTo);
    expect(q?.durable).toBe(false);
    expect(q?.arguments).toEqual([['x-expires', 'signedint', 86_400_000]]);
    await client.close();
    expect(await queueExists(client.replyTo)).toBe(false);
  });

  it('sends nothing for a task without reply_to (as Celery), and still acks', async () => {
    const client = open();
    const worker = open();
    const id = uniqueName('task');
    let acked = 0;
    await worker.store(success(id), { ack: fakeDelivery('', () => acked++) });
    expect(acked).toBe(1);
    expect(await worker.get(id)).toBeNull();
    expect(await client.get(id)).toBeNull();
    // With the task's reply_to, it goes there; the correlation id names the task.
    await worker.store(success(id, 42), { ack: fakeDelivery(client.replyTo, () => acked++) });
    expect((await client.waitFor(id, { timeoutMs: 5000 })).result).toBe(42);
    expect(acked).toBe(2);
  });

  it("replies through the delivery's AMQP fused ack on its own RabbitMQ; else publishes, then acks", async () => {
    const client = open();
    const worker = open();
    const persistentWorker = open({ persistent: true });
    await client.declareReplyQueue();
    const replies: AmqpReply[] = [];
    let acked = 0;
    const fusedDelivery = (target: string): Delivery => {
      const fused: AmqpFusedAck = {
        transport: 'amqp',
        target,
        replyThenAck: (reply) => {
          replies.push(reply);
          return Promise.resolve();
        },
      };
      return { ...fakeDelivery(client.replyTo, () => acked++), fusedAck: () => fused };
    };
    const same = amqpTarget(server.url)!;
    const id = uniqueName('task');
    await worker.store(success(id), { ack: fusedDelivery(same) });
    // Sent and acked by the delivery, on its channel: the backend neither publishes nor acks.
    expect(acked).toBe(0);
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatchObject({
      queue: client.replyTo,
      correlationId: 'c',
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      expiration: '86400000',
    });
    expect(JSON.parse(replies[0]!.body.toString())).toMatchObject({ task_id: id });
    // Another server, or persistent results: published on the backend's connection, then acked.
    const other = amqpTarget('amqp://guest@127.0.0.1:1/%2F')!;
    await worker.store(success(`${id}-other`, 1), { ack: fusedDelivery(other) });
    await persistentWorker.store(success(`${id}-persistent`, 2), { ack: fusedDelivery(same) });
    expect(replies).toHaveLength(1);
    expect(acked).toBe(2);
    expect((await client.waitFor(`${id}-other`, { timeoutMs: 5000 })).result).toBe(1);
    expect((await client.waitFor(`${id}-persistent`, { timeoutMs: 5000 })).result).toBe(2);
  });

  it('keeps waiting across dropped connections and a node restart', async () => {
    const client = open();
    const worker = open();
    const before = uniqueName('task');
    const after = uniqueName('task');
    const waits = [
      client.waitFor(before, { timeoutMs: 60_000 }),
      client.waitFor(after, { timeoutMs: 60_000 }),
    ];
    await client.declareReplyQueue();
    await server.ctl(['close_all_connections', 'test: drop every connection']);
    await sleep(200);
    await worker.store(success(before, 'after a drop'), { replyTo: client.replyTo });
    expect((await waits[0])?.result).toBe('after a drop');
    // The reply queue is not durable: a restart deletes it, and the client declares it again.
    await server.restart();
    await sleep(500);
    await client.declareReplyQueue();
    await worker.store(success(after, 'after a restart'), { replyTo: client.replyTo });
    expect((await waits[1])?.result).toBe('after a restart');
  }, 60_000);

  it('fails with BACKEND_UNAVAILABLE naming the URL, password hidden, when RabbitMQ is unreachable', async () => {
    const backend = open({
      brokerUrl: 'amqp://celery:s3cret@127.0.0.1:1//',
      connectTimeoutMs: 300,
    });
    for (const op of [
      () => backend.get('x'),
      () => backend.store(success('x')),
      () => backend.waitFor('x'),
    ]) {
      const err: unknown = await op().catch((e: unknown) => e);
      expect(isCeleriacError(err, ErrorCodes.BACKEND_UNAVAILABLE)).toBe(true);
      expect((err as Error).message).toContain('amqp://celery:***@127.0.0.1:1//');
      expect((err as Error).message).not.toContain('s3cret');
    }
  });
});
