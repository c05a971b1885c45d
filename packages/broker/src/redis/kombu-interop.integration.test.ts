import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { BrokerMessage, Delivery } from '@celeriac/core';
import {
  PYTHON,
  requirePythonCelery,
  startRedisServer,
  uniqueName,
  type RedisServerHandle,
} from '@celeriac/testing';
import { RedisBroker, type RedisBrokerOptions } from './index.js';

// The other side of the wire, for real: Debian's python3-celery (kombu 5.2) against the same
// Redis. Its own server, because kombu's restore_visible and ours act on every stale entry.

let server: RedisServerHandle;
let raw: Redis;
const brokers: RedisBroker[] = [];
const clients: Redis[] = [];

beforeAll(async () => {
  requirePythonCelery();
  server = await startRedisServer();
  raw = new Redis(server.url);
});
afterAll(async () => {
  // Optional chaining: when beforeAll failed (no Python), only its error should be reported.
  raw?.disconnect();
  await server?.stop();
});
afterEach(async () => {
  for (const b of brokers.splice(0)) await b.close();
  for (const c of clients.splice(0)) c.disconnect();
});

function open(options: Partial<RedisBrokerOptions> = {}): RedisBroker {
  const b = new RedisBroker({ url: server.url, ...options });
  brokers.push(b);
  return b;
}

const execFileAsync = promisify(execFile);

/** Runs Python with BROKER_URL and QUEUE set; returns the JSON it prints last. */
async function python<T>(code: string, queue: string): Promise<T> {
  const { stdout } = await execFileAsync(PYTHON, ['-c', code], {
    encoding: 'utf8',
    env: {
      ...process.env,
      BROKER_URL: `${server.url}/0`,
      QUEUE: queue,
      PYTHONDONTWRITEBYTECODE: '1',
    },
    timeout: 30_000,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!) as T;
}

async function eventually(
  what: string,
  predicate: () => boolean | Promise<boolean>,
  ms = 8000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

function msg(id: string, priority?: number): BrokerMessage {
  return {
    body: Buffer.from(
      JSON.stringify([
        [id],
        { k: 'v' },
        { callbacks: null, errbacks: null, chain: null, chord: null },
      ]),
    ),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: { lang: 'js', task: 'interop.task', id },
    properties: {
      correlation_id: id,
      reply_to: '',
      delivery_mode: 2,
      ...(priority === undefined ? {} : { priority }),
    },
  };
}

async function consume(
  b: RedisBroker,
  q: string,
  onMessage?: (d: Delivery) => void,
): Promise<Delivery[]> {
  const received: Delivery[] = [];
  await b.consume({
    queues: [q],
    prefetch: 10,
    onMessage: (d) => {
      received.push(d);
      onMessage?.(d);
    },
  });
  return received;
}

describe('RedisBroker and Python kombu on one Redis', () => {
  it('consumes what Celery send_task publishes, and declares queues as Celery does', async () => {
    const q = uniqueName('py-to-js');
    const { id } = await python<{ id: string }>(
      `
import json, os
from celery import Celery
app = Celery('interop', broker=os.environ['BROKER_URL'])
r = app.send_task('tasks.add', args=[2, 3], queue=os.environ['QUEUE'], priority=4)
print(json.dumps({'id': r.id}))
`,
      q,
    );
    // Celery binds a queue it creates on demand to an exchange of the queue's own name:
    // exactly the member declareQueue writes.
    const binding = `_kombu.binding.${q}`;
    const pythonBinding = await raw.smembers(binding);
    expect(pythonBinding).toEqual([`${q}\x06\x16\x06\x16${q}`]);
    await raw.del(binding);
    await open().declareQueue(q);
    expect(await raw.smembers(binding)).toEqual(pythonBinding);

    expect(await raw.llen(`${q}\x06\x163`)).toBe(1); // priority 4 → step 3, as kombu filed it
    const received = await consume(open(), q, (d) => void d.ack());
    await eventually('the Celery message', () => received.length === 1);
    const d = received[0]!;
    expect(d.message.headers).toMatchObject({ lang: 'py', task: 'tasks.add', id });
    expect(JSON.parse(d.message.body.toString())).toEqual([
      [2, 3],
      {},
      { callbacks: null, errbacks: null, chain: null, chord: null },
    ]);
    expect(d.message.properties).toMatchObject({ correlation_id: id, priority: 4 });
    await eventually('the ack', async () => (await raw.hlen('unacked')) === 0);
  });

  it('kombu consumes and acks what RedisBroker publishes, lower priority step first', async () => {
    const q = uniqueName('js-to-py');
    const b = open();
    await b.publishMany([
      { queue: q, message: msg('late', 9) },
      { queue: q, message: msg('first', 0) },
      { queue: q, message: msg('second') },
    ]);
    const got = await python<
      { id: string; body: unknown; info: Record<string, unknown>; ct: string; tag: string }[]
    >(
      `
import json, os
from kombu import Connection
out = []
with Connection(os.environ['BROKER_URL']) as conn:
    ch = conn.channel()
    for _ in range(3):
        m = ch.basic_get(os.environ['QUEUE'], no_ack=False)
        out.append({'id': m.headers['id'], 'body': json.loads(m.body), 'info': m.delivery_info,
                    'ct': m.content_type, 'tag': m.delivery_tag})
        m.ack()
print(json.dumps(out))
`,
      q,
    );
    expect(got.map((m) => m.id)).toEqual(['first', 'second', 'late']);
    expect(got[0]!.body).toEqual([
      ['first'],
      { k: 'v' },
      { callbacks: null, errbacks: null, chain: null, chord: null },
    ]);
    expect(got[0]!.ct).toBe('application/json');
    expect(got[0]!.info).toMatchObject({ exchange: '', routing_key: q });
    expect(await raw.hlen('unacked')).toBe(0);
    expect(await b.count(q)).toBe(0);
  });

  it("kombu's restore_visible restores what a dead RedisBroker consumer held", async () => {
    const q = uniqueName('py-restores');
    const dying = new Redis(server.url);
    clients.push(dying);
    const victim = open({ client: dying });
    await victim.publish(q, msg('orphan', 6));
    const held = await consume(victim, q);
    await eventually('the delivery', () => held.length === 1);
    const tag = held[0]!.deliveryTag;
    dying.disconnect(); // dies: stops refreshing
    await sleep(1500);
    const restored = await python<{ unacked: number }>(
      `
import json, os
from kombu import Connection
with Connection(os.environ['BROKER_URL'], transport_options={'visibility_timeout': 1}) as conn:
    ch = conn.default_channel
    ch.qos.restore_visible()
    print(json.dumps({'unacked': ch.client.hlen('unacked')}))
`,
      q,
    );
    expect(restored.unacked).toBe(0);
    // kombu restores with RPUSH to the bare queue list, marked redelivered.
    const received = await consume(open(), q, (d) => void d.ack());
    await eventually('the restored message', () => received.length === 1);
    expect(received[0]!.deliveryTag).toBe(tag);
    expect(received[0]!.redelivered).toBe(true);
    expect(received[0]!.message.headers['id']).toBe('orphan');
  });

  it('RedisBroker restores what a crashed kombu consumer held', async () => {
    const q = uniqueName('js-restores');
    await open().publish(q, msg('py-orphan', 3));
    const { tag } = await python<{ tag: string }>(
      `
import json, os, sys
from kombu import Connection
conn = Connection(os.environ['BROKER_URL'])
ch = conn.channel()
m = ch.basic_get(os.environ['QUEUE'], no_ack=False)
print(json.dumps({'tag': m.delivery_tag}))
sys.stdout.flush()
os._exit(0)  # a crash: kombu never gets to restore at shutdown
`,
      q,
    );
    expect(await raw.hexists('unacked', tag)).toBe(1);
    expect(JSON.parse((await raw.hget('unacked', tag))!)).toMatchObject([
      { properties: { delivery_tag: tag } },
      '',
      q,
    ]);
    const received = await consume(
      open({ visibilityTimeout: 1, restoreIntervalMs: 200 }),
      q,
      (d) => void d.ack(),
    );
    await eventually('the restored message', () => received.length === 1);
    expect(received[0]!.deliveryTag).toBe(tag);
    expect(received[0]!.redelivered).toBe(true);
    await eventually('the ack', async () => (await raw.hlen('unacked')) === 0);
  });
});
