/**
 * Interop with real Python Celery (Debian's python3-celery, kombu's pyamqp transport) on
 * RabbitMQ, with Celery's Redis result backend: a task AmqpBroker publishes runs on a Celery
 * worker (also through the delay levels, which leave `x-death` headers Celery must accept), and
 * a task a Celery client publishes is decoded as sent from what AmqpBroker delivers. The rpc://
 * result backend's interop is in @celeriac/result-backend (src/rpc).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createTaskMessage,
  decodeTaskMessage,
  encodeTaskMessage,
  type Delivery,
} from '@celeriac/core';
import { messageEta } from '@celeriac/core/internal';
import {
  rabbitMqForTests,
  requirePythonCelery,
  runPythonScript,
  startCeleryWorker,
  startRedisServer,
  uniqueName,
  type CeleryWorkerHandle,
  type PythonEnv,
  type RabbitMqForTests,
  type RedisServerHandle,
} from '@celeriac/testing';
import { AmqpBroker } from './index.js';

interface PyOutcome {
  id: string;
  state: string;
  result?: unknown;
  info?: unknown;
}

let rabbit: RabbitMqForTests | undefined;
let redisServer: RedisServerHandle | undefined;
let redis: Redis;
let env: PythonEnv;
let broker: AmqpBroker;

beforeAll(async () => {
  requirePythonCelery();
  rabbit = await rabbitMqForTests();
  let redisUrl = process.env['REDIS_URL'] ?? inject('redisUrl') ?? '';
  if (!redisUrl) {
    redisServer = await startRedisServer();
    redisUrl = redisServer.url;
  }
  redis = new Redis(redisUrl);
  // kombu reads the vhost from the path: `//` is the vhost "/".
  const brokerUrl = rabbit.url.replace(/:(\d+)\/?$/, ':$1//');
  env = { brokerUrl, backendUrl: redisUrl };
  broker = new AmqpBroker({ url: rabbit.url });
});

afterAll(async () => {
  await broker?.close();
  await redis?.quit();
  await redisServer?.stop();
  await rabbit?.release();
});

/** The result document Celery's Redis backend stored, once there is one. */
async function celeryResult(id: string, timeoutMs = 20_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const raw = await redis.get(`celery-task-meta-${id}`);
    if (raw) {
      const doc = JSON.parse(raw) as Record<string, unknown>;
      if (doc['status'] === 'SUCCESS' || doc['status'] === 'FAILURE') return doc;
    }
    if (Date.now() > deadline) throw new Error(`no result for ${id} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

describe('Celeriac (AmqpBroker) → Python Celery worker on RabbitMQ', () => {
  const queue = uniqueName('py');
  let worker: CeleryWorkerHandle | undefined;

  beforeAll(async () => {
    // Declared by Celeriac first, as Celery would declare it: the worker accepts it as is.
    await broker.declareQueue(queue);
    worker = await startCeleryWorker({ ...env, queues: [queue] });
  }, 60_000);
  afterAll(async () => {
    await worker?.stop();
  });

  it('runs a task Celeriac published, and Python reads the result', async () => {
    const msg = createTaskMessage({ name: 'py.add', args: [2, 3] });
    await broker.publish(queue, encodeTaskMessage(msg));
    expect(await celeryResult(msg.headers.id)).toMatchObject({ status: 'SUCCESS', result: 5 });
    const seen = await runPythonScript<PyOutcome>('interop_result.py', [msg.headers.id], env);
    expect(seen).toMatchObject({ state: 'SUCCESS', info: 5 });
  });

  it('runs msgpack tasks, kwargs and failures as Celery does', async () => {
    const echo = createTaskMessage({
      name: 'py.echo',
      args: [1, 'two'],
      kwargs: { k: [1, 2] },
      timeLimit: 300,
      softTimeLimit: 200,
    });
    await broker.publish(queue, encodeTaskMessage(echo, 'msgpack'));
    expect(await celeryResult(echo.headers.id)).toMatchObject({
      status: 'SUCCESS',
      result: { args: [1, 'two'], kwargs: { k: [1, 2] } },
    });
    const fail = createTaskMessage({ name: 'py.fail', args: ['no good'] });
    await broker.publish(queue, encodeTaskMessage(fail));
    expect(await celeryResult(fail.headers.id)).toMatchObject({
      status: 'FAILURE',
      result: { exc_type: 'ValueError', exc_message: ['no good'] },
    });
  });

  it('runs a countdown task when due, after it waited in the delay levels', async () => {
    const eta = new Date(Date.now() + 1500);
    const msg = createTaskMessage({ name: 'py.add', args: [20, 22], eta });
    await broker.publish(queue, encodeTaskMessage(msg), { deliverAt: eta.getTime() });
    expect(await broker.countDelayed(queue)).toBe(1);
    await sleep(800);
    expect(await redis.get(`celery-task-meta-${msg.headers.id}`)).toBeNull();
    const doc = await celeryResult(msg.headers.id);
    expect(doc).toMatchObject({ status: 'SUCCESS', result: 42 });
    expect(new Date(String(doc['date_done'])).getTime()).toBeGreaterThanOrEqual(eta.getTime() - 50);
  });
});

describe('Python Celery client → Celeriac (AmqpBroker) on RabbitMQ', () => {
  /** Sends a task with interop_client.py to a fresh queue and returns what AmqpBroker delivers. */
  async function sendAndReceive(
    args: string[],
    pyEnv: PythonEnv = env,
  ): Promise<{ sent: PyOutcome; delivery: Delivery }> {
    const queue = uniqueName('js');
    const received: Delivery[] = [];
    const consumer = await broker.consume({
      queues: [queue],
      prefetch: 5,
      onMessage: (d) => received.push(d),
    });
    try {
      const sent = await runPythonScript<PyOutcome>(
        'interop_client.py',
        [...args, '--queue', queue, '--no-wait'],
        pyEnv,
      );
      const deadline = Date.now() + 10_000;
      while (received.length === 0 && Date.now() < deadline) await sleep(20);
      expect(received).toHaveLength(1);
      return { sent, delivery: received[0]! };
    } finally {
      await consumer.cancel();
    }
  }

  it('delivers what Celery sent: headers, args, kwargs, properties, priority and eta', async () => {
    const { sent, delivery: d } = await sendAndReceive([
      'js.echo',
      '[1, "two", 300]',
      '--kwargs',
      '{"k": {"n": 2}}',
      '--priority',
      '7',
      '--countdown',
      '30',
    ]);
    const task = decodeTaskMessage(d.message);
    expect(task.headers).toMatchObject({
      lang: 'py',
      task: 'js.echo',
      id: sent.id,
      root_id: sent.id,
      retries: 0,
    });
    expect(task.args).toEqual([1, 'two', 300]);
    expect(task.kwargs).toEqual({ k: { n: 2 } });
    expect(messageEta(task.headers)!.getTime()).toBeGreaterThan(Date.now() + 20_000);
    expect(d.message.contentType).toBe('application/json');
    expect(d.message.properties).toMatchObject({
      correlation_id: sent.id,
      delivery_mode: 2,
      priority: 7,
    });
    // Celery always sets reply_to: its app's oid, where an rpc:// backend wants results.
    expect(typeof d.message.properties.reply_to).toBe('string');
    expect(d.message.properties.reply_to).not.toBe('');
    await d.ack();
  });

  it('takes msgpack from Celery', async () => {
    const { sent, delivery: d } = await sendAndReceive(
      ['js.add', '[2, 3]', '--serializer', 'msgpack'],
      { ...env, serializer: 'msgpack' },
    );
    const task = decodeTaskMessage(d.message);
    expect(task.headers.id).toBe(sent.id);
    expect(task.args).toEqual([2, 3]);
    expect(d.message.contentType).toBe('application/x-msgpack');
    await d.ack();
  });
});
