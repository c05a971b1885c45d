/**
 * Remote control on Redis, driven from Node with kombu's own wire format (the Python side is
 * in interop/remote-control.python.integration.test.ts): destinations, expiry, casts without
 * a reply, and malformed requests.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';
import { Celeriac } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import { uniqueName } from '@celeriac/testing';
import { Worker } from './index.js';

const redisUrl = inject('redisUrl');

describe('remote control on Redis', () => {
  const hostname = `${uniqueName('rc-node')}@test`;
  let app: Celeriac;
  let worker: Worker;
  let raw: Redis;
  let db: number;

  beforeAll(async () => {
    raw = new Redis(redisUrl);
    db = Number(raw.options.db ?? 0);
    app = new Celeriac({
      broker: redisUrl,
      backend: redisUrl,
      logger: silentLogger,
      defaultQueue: uniqueName('rcq'),
    });
    app.task('rc.node', () => 1);
    worker = new Worker(app, { hostname });
    await worker.start();
  });
  afterAll(async () => {
    await worker?.shutdown({ timeout: 1 });
    await app?.close();
    raw?.disconnect();
  });

  /** Publishes a pidbox request as kombu does and returns what came back to its reply queue within `ms`. */
  async function ask(
    body: Record<string, unknown>,
    headers: Record<string, unknown> = {},
    ms = 600,
  ): Promise<unknown[]> {
    const oid = randomUUID();
    const replyQueue = `${oid}.reply.celery.pidbox`;
    const member = `${oid}\x06\x16\x06\x16${replyQueue}`;
    await raw.sadd('_kombu.binding.reply.celery.pidbox', member);
    const request = {
      ticket: randomUUID(),
      reply_to: { exchange: 'reply.celery.pidbox', routing_key: oid },
      destination: null,
      arguments: {},
      ...body,
    };
    const envelope = {
      body: Buffer.from(JSON.stringify(request)).toString('base64'),
      'content-encoding': 'utf-8',
      'content-type': 'application/json',
      headers: { clock: 1, expires: Date.now() / 1000 + 5, ...headers },
      properties: {
        delivery_mode: 2,
        delivery_info: { exchange: 'celery.pidbox', routing_key: '' },
        priority: 0,
        body_encoding: 'base64',
        delivery_tag: randomUUID(),
      },
    };
    await raw.publish(`/${db}.celery.pidbox`, JSON.stringify(envelope));
    await new Promise((r) => setTimeout(r, ms));
    const replies = (await raw.lrange(replyQueue, 0, -1)).map((r) => {
      const e = JSON.parse(r) as { body: string; headers: Record<string, unknown> };
      return {
        body: JSON.parse(Buffer.from(e.body, 'base64').toString()) as unknown,
        ticket: e.headers['ticket'],
      };
    });
    await raw.srem('_kombu.binding.reply.celery.pidbox', member);
    await raw.del(replyQueue);
    return replies.map((r) => (r.ticket === request.ticket ? r.body : { wrongTicket: r }));
  }

  it('answers a request for this worker, with the request ticket', async () => {
    expect(await ask({ method: 'ping', destination: [hostname] })).toEqual([
      { [hostname]: { ok: 'pong' } },
    ]);
  });

  it('stays silent for another destination, an expired request, and a cast without reply_to', async () => {
    expect(await ask({ method: 'ping', destination: ['someone-else@test'] })).toEqual([]);
    expect(
      await ask({ method: 'ping', destination: [hostname] }, { expires: Date.now() / 1000 - 1 }),
    ).toEqual([]);
    expect(await ask({ method: 'ping', destination: [hostname], reply_to: null })).toEqual([]);
  });

  it('ignores a malformed request and keeps serving', async () => {
    await raw.publish(`/${db}.celery.pidbox`, '{"body": "%%%", "headers": {}}');
    expect(await ask({ destination: [hostname] })).toEqual([]); // no method
    expect(await ask({ method: 'ping', destination: [hostname] })).toEqual([
      { [hostname]: { ok: 'pong' } },
    ]);
    expect(worker.state).toBe('running');
  });

  it('revoke from remote control keeps a later message of that task from running', async () => {
    const id = randomUUID();
    expect(
      await ask({
        method: 'revoke',
        destination: [hostname],
        arguments: { task_id: id, terminate: false },
      }),
    ).toEqual([{ [hostname]: { ok: `tasks ${id} flagged as revoked` } }]);
    const r = app.sendTask('rc.node', [], {}, { taskId: id });
    await expect(r.get({ timeout: 10 })).rejects.toMatchObject({ type: 'TaskRevokedError' });
  });

  it('is off with remoteControl: false', async () => {
    const quietHost = `${uniqueName('rc-off')}@test`;
    const other = new Worker(app, {
      hostname: quietHost,
      remoteControl: false,
      queues: [uniqueName('rc-off-q')],
    });
    await other.start();
    try {
      expect(await ask({ method: 'ping', destination: [quietHost] })).toEqual([]);
    } finally {
      await other.shutdown({ timeout: 1 });
    }
  });
});
