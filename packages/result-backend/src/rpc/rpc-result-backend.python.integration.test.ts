/**
 * Interop with Python Celery's own rpc:// backend (Debian's python3-celery) on RabbitMQ, both
 * ways: a Python worker sends the result of a task Celeriac published to Celeriac's reply queue,
 * and Celeriac sends the result of a task a Python client published to that client's queue,
 * where `AsyncResult.get()` returns it (or re-raises the error). Tasks travel over plain
 * amqplib here; the broker side is AmqpBroker's business and tested in @celeriac/broker.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import {
  buildResultDocument,
  createTaskMessage,
  decodeTaskMessage,
  encodeTaskMessage,
  type BrokerMessage,
  type Delivery,
  type TaskMessage,
} from '@celeriac/core';
import {
  rabbitMqForTests,
  requirePythonCelery,
  runPythonScript,
  startCeleryWorker,
  uniqueName,
  type CeleryWorkerHandle,
  type PythonEnv,
  type RabbitMqForTests,
} from '@celeriac/testing';
import { RpcResultBackend } from './index.js';

interface PyOutcome {
  id: string;
  state: string;
  result?: unknown;
  error_type?: string;
  error_module?: string;
  error_message?: string;
}

let rabbit: RabbitMqForTests | undefined;
let amqp: ChannelModel;
let ch: Channel;
let env: PythonEnv;
let backend: RpcResultBackend;

beforeAll(async () => {
  requirePythonCelery();
  rabbit = await rabbitMqForTests();
  amqp = await connect(rabbit.url);
  ch = await amqp.createChannel();
  // kombu reads the vhost from the path: `//` is the vhost "/".
  env = { brokerUrl: rabbit.url.replace(/:(\d+)\/?$/, ':$1//'), backendUrl: 'rpc://' };
  backend = new RpcResultBackend({ url: 'rpc://', brokerUrl: rabbit.url });
});

afterAll(async () => {
  await backend?.close();
  await amqp?.close().catch(() => undefined);
  await rabbit?.release();
});

/** Publishes a Celery task as Celery does: default exchange, queue name as routing key. */
async function publishTask(queue: string, msg: TaskMessage): Promise<void> {
  const wire = encodeTaskMessage(msg);
  await ch.assertQueue(queue, { durable: true });
  ch.sendToQueue(queue, wire.body, {
    headers: wire.headers,
    correlationId: wire.properties.correlation_id,
    replyTo: wire.properties.reply_to,
    contentType: wire.contentType,
    contentEncoding: wire.contentEncoding,
    deliveryMode: 2,
    priority: 0,
  });
}

function asBrokerMessage(m: ConsumeMessage): BrokerMessage {
  return {
    body: m.content,
    contentType: String(m.properties.contentType),
    contentEncoding: String(m.properties.contentEncoding),
    headers: m.properties.headers ?? {},
    properties: {
      correlation_id: m.properties.correlationId as string,
      reply_to: m.properties.replyTo as string,
    },
  };
}

describe('Celeriac client → Python Celery worker, results over rpc://', () => {
  const queue = uniqueName('py-rpc');
  let worker: CeleryWorkerHandle | undefined;

  beforeAll(async () => {
    worker = await startCeleryWorker({ ...env, queues: [queue] });
  }, 60_000);
  afterAll(async () => {
    await worker?.stop();
  });

  it("reads the worker's result from the reply queue named in reply_to", async () => {
    await backend.declareReplyQueue();
    const msg = createTaskMessage({ name: 'py.add', args: [2, 3], replyTo: backend.replyTo });
    await publishTask(queue, msg);
    const doc = await backend.waitFor(msg.headers.id, { timeoutMs: 20_000 });
    expect(doc).toMatchObject({ status: 'SUCCESS', result: 5, task_id: msg.headers.id });
    expect(await backend.get(msg.headers.id)).toMatchObject({ status: 'SUCCESS', result: 5 });
  });

  it('reads a failure as Celery encodes it', async () => {
    const msg = createTaskMessage({ name: 'py.fail', args: ['no good'], replyTo: backend.replyTo });
    await publishTask(queue, msg);
    const doc = await backend.waitFor(msg.headers.id, { timeoutMs: 20_000 });
    expect(doc.status).toBe('FAILURE');
    expect(doc.result).toMatchObject({ exc_type: 'ValueError', exc_message: ['no good'] });
    expect(doc.traceback).toMatch(/ValueError: no good/);
  });
});

describe('Python Celery client → Celeriac, results over rpc://', () => {
  /** Runs the Node side of a task the Python client sent: consume, run, store, ack. */
  async function serve(
    queue: string,
    run: (task: TaskMessage) => { ok: unknown } | { error: Error },
    useAck: boolean,
  ): Promise<() => Promise<void>> {
    const consumer = await amqp.createChannel();
    await consumer.assertQueue(queue, { durable: true });
    const { consumerTag } = await consumer.consume(queue, (m) => {
      if (!m) return;
      const message = asBrokerMessage(m);
      const task = decodeTaskMessage(message);
      const outcome = run(task);
      const doc =
        'ok' in outcome
          ? buildResultDocument({
              taskId: task.headers.id,
              status: 'SUCCESS',
              result: outcome.ok,
              dateDone: new Date(),
            })
          : buildResultDocument({
              taskId: task.headers.id,
              status: 'FAILURE',
              result: {
                exc_type: outcome.error.name,
                exc_message: [outcome.error.message],
                exc_module: 'builtins',
              },
              traceback: `Traceback (most recent call last):\n${outcome.error.name}: ${outcome.error.message}\n`,
              dateDone: new Date(),
            });
      const delivery: Delivery = {
        message,
        queue,
        deliveryTag: String(m.fields.deliveryTag),
        redelivered: m.fields.redelivered,
        ack: () => {
          consumer.ack(m);
          return Promise.resolve();
        },
        requeue: () => Promise.resolve(consumer.nack(m)),
        deadLetter: () => Promise.resolve(consumer.nack(m, false, false)),
      };
      // The worker today passes the delivery (its reply_to is the destination); with the
      // proposed StoreOptions it passes reply_to and correlation_id explicitly.
      const stored = useAck
        ? backend.store(doc, { ack: delivery })
        : backend
            .store(doc, {
              replyTo: task.properties.reply_to!,
              correlationId: task.properties.correlation_id!,
            })
            .then(() => delivery.ack());
      void stored;
    });
    return async () => {
      await consumer.cancel(consumerTag);
      await consumer.close();
    };
  }

  it.each([
    ['the acked delivery', true],
    ['reply_to and correlation_id', false],
  ])(
    'sends the result to the Python client’s queue (destination from %s)',
    async (_how, useAck) => {
      const queue = uniqueName('js-rpc');
      const stop = await serve(
        queue,
        (t) => ({ ok: (t.args[0] as number) + (t.args[1] as number) }),
        useAck,
      );
      try {
        const out = await runPythonScript<PyOutcome>(
          'interop_client.py',
          ['js.add', '[2, 3]', '--queue', queue],
          env,
        );
        expect(out).toMatchObject({ state: 'SUCCESS', result: 5 });
      } finally {
        await stop();
      }
    },
  );

  it('makes Python re-raise the error with its type and message', async () => {
    const queue = uniqueName('js-rpc-fail');
    const fail = new Error('no good');
    fail.name = 'ValueError';
    const stop = await serve(queue, () => ({ error: fail }), true);
    try {
      const out = await runPythonScript<PyOutcome>(
        'interop_client.py',
        ['js.fail', '["x"]', '--queue', queue],
        env,
      );
      expect(out).toMatchObject({
        state: 'FAILURE',
        error_type: 'ValueError',
        error_message: 'no good',
      });
    } finally {
      await stop();
      await sleep(0);
    }
  });
});
