/**
 * Remote control in msgpack, against real Python Celery on Redis and RabbitMQ. A Python app
 * with `task_serializer='msgpack'` sends its pidbox requests in msgpack: a Celeriac worker
 * decodes them by content type and answers in its own task serializer, as a Celery worker
 * does (kombu's `Node.reply` uses the mailbox's serializer). A Python worker so configured
 * answers Node's inspect in msgpack, which Node decodes by content type.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Celeriac } from '@celeriac/client';
import { silentLogger, type SerializerName } from '@celeriac/core';
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
import { Worker } from '../index.js';

const redisUrl = inject('redisUrl');

let rabbit: RabbitMqForTests | undefined;
afterAll(async () => {
  await rabbit?.release();
});

describe.each(['redis', 'amqp'] as const)('remote control in msgpack on %s', (transport) => {
  let env: PythonEnv;
  const apps: Celeriac[] = [];
  const workers: Worker[] = [];
  /** A Celeriac worker by the task serializer of its app (the one it replies in). */
  const hostnames = {} as Record<SerializerName, string>;

  beforeAll(async () => {
    requirePythonCelery();
    if (transport === 'amqp') rabbit ??= await rabbitMqForTests();
    const brokerUrl = transport === 'amqp' ? rabbit!.url : redisUrl;
    const backendUrl = transport === 'amqp' ? 'rpc://' : redisUrl;
    env = { brokerUrl, backendUrl, serializer: 'msgpack' };
    for (const taskSerializer of ['json', 'msgpack'] as const) {
      const app = new Celeriac({
        broker: brokerUrl,
        backend: backendUrl,
        logger: silentLogger,
        defaultQueue: uniqueName('rc-msgpack'),
        taskSerializer,
      });
      app.task('rcm.add', (a: number, b: number) => a + b);
      const hostname = `${uniqueName(`celeriac-${taskSerializer}`)}@test`;
      const worker = new Worker(app, { concurrency: 2, hostname });
      await worker.start();
      apps.push(app);
      workers.push(worker);
      hostnames[taskSerializer] = hostname;
    }
  });

  afterAll(async () => {
    for (const w of workers) await w.shutdown({ timeout: 2 });
    for (const a of apps) await a.close();
  });

  it.each(['json', 'msgpack'] as const)(
    'a Celeriac worker replying in %s answers a msgpack inspect ping and stats',
    async (replies) => {
      const hostname = hostnames[replies];
      const ping = await runPythonScript<Record<string, unknown>>(
        'interop_control.py',
        ['ping', hostname],
        env,
      );
      expect(ping).toEqual({ [hostname]: { ok: 'pong' } });
      const stats = await runPythonScript<Record<string, { pid: number; sw_ident: string }>>(
        'interop_control.py',
        ['stats', hostname],
        env,
      );
      expect(stats[hostname]).toMatchObject({ pid: process.pid, sw_ident: 'celeriac' });
      const pong = await runPythonScript<Record<string, unknown>[]>(
        'interop_control.py',
        ['control_ping', hostname],
        env,
      );
      expect(pong).toEqual([{ [hostname]: { ok: 'pong' } }]);
    },
  );

  it('Node inspect, sent in the app task serializer, reaches a msgpack-only Python worker and reads its msgpack replies', async () => {
    // The app with taskSerializer 'msgpack': a Python worker accepting msgpack only would
    // drop a JSON request (kombu's ContentDisallowed), as it drops JSON tasks.
    const app = apps[1]!;
    const pyName = `${uniqueName('py-msgpack')}@test`;
    let py: CeleryWorkerHandle | undefined;
    try {
      py = await startCeleryWorker({
        ...env,
        acceptContent: ['msgpack'],
        queues: [uniqueName('pyq')],
        name: pyName,
      });
      // Celery logs "ready." before its pidbox consumer listens: ask until it answers.
      const deadline = Date.now() + 30_000;
      let replies: Record<string, unknown> = {};
      while (!(pyName in replies) && Date.now() < deadline) {
        replies = await app.control.inspect({ timeout: 1, destination: [pyName] }).ping();
      }
      expect(replies, py.output()).toEqual({ [pyName]: { ok: 'pong' } });
      const registered = await app.control
        .inspect({ timeout: 10, destination: [pyName] })
        .registered();
      expect(registered[pyName]).toEqual(expect.arrayContaining(['py.add']));
    } finally {
      await py?.stop();
    }
  }, 90_000);
});
