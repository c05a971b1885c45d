/**
 * The broker and coordination on Redis Sentinel, through a failover (one master, one replica,
 * three sentinels of their own): a consumer idle in its blocking read, a remote-control
 * subscriber and a revocation watcher all carry on with the promoted replica by themselves;
 * the promoted replica's empty script cache is refilled (NOSCRIPT, then EVAL). And `WAIT`:
 * a publish that fewer replicas confirmed than `waitReplicas` asks for is refused with
 * `CELERIAC_ERR_NOT_REPLICATED`, though it reached the master.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ErrorCodes,
  isCeleriacError,
  silentLogger,
  type BrokerMessage,
  type Delivery,
  type Revocation,
} from '@celeriac/core';
import {
  respCommand,
  respInfo,
  startRedisSentinel,
  uniqueName,
  type RedisSentinelHandle,
} from '@celeriac/testing';
import { createBroker } from '../index.js';
import { RedisCoordination } from '../coordination/redis-coordination.js';
import { RedisBroker } from './index.js';

let group: RedisSentinelHandle;
beforeAll(async () => {
  group = await startRedisSentinel();
}, 30_000);
afterAll(async () => {
  await group?.stop();
});

function msg(id: string): BrokerMessage {
  return {
    body: Buffer.from(JSON.stringify([[id], {}, {}])),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: { lang: 'js', task: 'it.task', id },
    properties: { correlation_id: id, reply_to: '', delivery_mode: 2 },
  };
}

async function until(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('RedisBroker on sentinel://', () => {
  it('refuses a Sentinel URL without a master name, saying how to give one', async () => {
    const url = group.url.replace(/\?.*$/, '');
    const err = await createBroker(url).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isCeleriacError(err, ErrorCodes.INVALID_URL)).toBe(true);
    expect((err as Error).message).toMatch(/\?master_name=mymaster/);
    // The name may come from the ioredis options instead (Celery's transport option).
    const broker = await createBroker(url, { redisOptions: { name: group.masterName } });
    await broker.declareQueue(uniqueName('named'));
    await broker.close();
  });

  it('close() ends every connection it opened, the sentinel subscriptions of its failover detectors too', async () => {
    const subscribers = async (): Promise<number> => {
      let n = 0;
      for (const port of group.sentinelPorts) {
        const list = String(await respCommand(port, ['CLIENT', 'LIST']));
        n += list.split('\n').filter((line) => /cmd=(p?un)?subscribe/.test(line)).length;
      }
      return n;
    };
    const broker = new RedisBroker({ url: group.url });
    await broker.declareQueue(uniqueName('close'));
    const deadline = Date.now() + 10_000;
    while ((await subscribers()) === 0) {
      if (Date.now() > deadline)
        throw new Error('no failover detector subscribed to the sentinels');
      await new Promise((r) => setTimeout(r, 20));
    }
    await broker.close();
    while ((await subscribers()) > 0) {
      if (Date.now() > deadline) throw new Error('close() left sentinel subscriptions open');
      await new Promise((r) => setTimeout(r, 20));
    }
  });

  it('refuses a publish fewer replicas confirmed than waitReplicas, which still reached the master', async () => {
    const queue = uniqueName('wait');
    const broker = new RedisBroker({ url: `${group.url}&wait_replicas=2&wait_timeout_ms=100` });
    try {
      const err = await broker.publish(queue, msg('w1')).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isCeleriacError(err, ErrorCodes.NOT_REPLICATED)).toBe(true);
      expect((err as { details: unknown }).details).toMatchObject({ replicas: 1, waitReplicas: 2 });
      expect(await broker.count(queue)).toBe(1);
      const ok = new RedisBroker({ url: group.url, waitReplicas: 1 });
      await ok.publish(queue, msg('w2'));
      expect(await ok.count(queue)).toBe(2);
      await ok.close();
    } finally {
      await broker.close();
    }
  });

  it('follows a planned failover (SENTINEL FAILOVER) with waitReplicas: nothing lost, though the old master took writes after the switch', async () => {
    // Until the sentinels demote it, the old master still takes writes from the connections on
    // it; the promoted replica never gets them, and they vanish when the old master resyncs
    // as its replica (seen here without waitReplicas: one publish in a few runs). With
    // waitReplicas 1 such a publish gets no confirmation and is refused (NOT_REPLICATED), so
    // the publisher sends it again.
    const queue = uniqueName('planned');
    const broker = new RedisBroker({ url: group.url, waitReplicas: 1, logger: silentLogger });
    const got = new Set<string>();
    let refused = 0;
    try {
      await broker.consume({
        queues: [queue],
        prefetch: 10,
        onMessage: (d) => {
          got.add(String(d.message.headers['id']));
          void d.ack();
        },
      });
      await group.waitForReplication();
      const old = await group.masterPort();
      let sent = 0;
      let publishing = true;
      const publisher = (async () => {
        while (publishing) {
          try {
            await broker.publish(queue, msg(`p${sent}`));
            sent += 1;
          } catch (err) {
            if (!isCeleriacError(err, ErrorCodes.NOT_REPLICATED)) throw err;
            refused += 1; // sent again, the same message
          }
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      await until('some publishes before the failover', () => sent >= 20);
      const failover = ['SENTINEL', 'FAILOVER', group.masterName];
      expect(await respCommand(group.sentinelPorts[0]!, failover)).toBe('OK');
      const promoted = await group.waitForFailover(old);
      const atSwitch = sent;
      await until('publishes after the failover', () => sent >= atSwitch + 20);
      publishing = false;
      await publisher;
      await until('every message consumed', () => got.size === sent);
      expect((await respInfo(promoted, 'replication')).get('role')).toBe('master');
      // The sentinels turn the old master into a replica of the new one (the next test needs it).
      await group.waitForReplicas(1);
      expect((await respInfo(old, 'replication')).get('role')).toBe('slave');
      console.info(`planned failover: ${sent} published, ${refused} refused and sent again`);
    } finally {
      await broker.close();
    }
  }, 60_000);

  it('an idle consumer, a control subscriber and a revocation watcher follow the failover', async () => {
    const queue = uniqueName('failover');
    const exchange = uniqueName('fanout');
    const broker = new RedisBroker({ url: group.url, logger: silentLogger });
    const coordination = new RedisCoordination({ url: group.url });
    const got: Delivery[] = [];
    const heard: BrokerMessage[] = [];
    const revoked: Revocation[] = [];
    try {
      await broker.declareQueue(queue);
      await broker.consume({
        queues: [queue],
        prefetch: 10,
        onMessage: (d) => {
          got.push(d);
          void d.ack();
        },
      });
      await broker.control.listen(exchange, (m) => heard.push(m));
      await coordination.watchRevocations((r) => revoked.push(r));
      await broker.publish(queue, msg('before'));
      await broker.control.broadcast(exchange, msg('c-before'));
      await coordination.revoke(['r-before'], { ttlMs: 60_000, terminate: false });
      await until('everything sent before the kill', () => got.length === 1 && heard.length === 1);
      await until('the revocation before the kill', () => revoked.some((r) => r.id === 'r-before'));

      const old = await group.killMaster();
      const promoted = await group.waitForFailover(old);
      // Through the same objects, never reopened: commands, scripts, blocking reads, subscribers.
      await broker.publish(queue, msg('after'));
      await coordination.revoke(['r-after'], { ttlMs: 60_000, terminate: false });
      await until('the message published after the failover', () => got.length === 2);
      // Pub/sub keeps nothing: a broadcast sent before the subscriber is back on the new master
      // is lost (as for Celery), so send it until it is heard, as a remote-control ping would be.
      const deadline = Date.now() + 20_000;
      while (heard.length < 2) {
        if (Date.now() > deadline) throw new Error('no broadcast heard after the failover');
        await broker.control.broadcast(exchange, msg('c-after'));
        await new Promise((r) => setTimeout(r, 100));
      }
      await until('the revocation after the failover', () =>
        revoked.some((r) => r.id === 'r-after'),
      );
      expect(got.map((d) => d.message.headers['id'])).toEqual(['before', 'after']);
      expect(await broker.count(queue)).toBe(0);
      expect((await respInfo(promoted, 'replication')).get('role')).toBe('master');
      expect((await respInfo(promoted, 'errorstats')).get('errorstat_NOSCRIPT')).toMatch(/count=/);
      // The broker's connections are on the promoted replica now (CLIENT LIST names them).
      const clients = String(await respCommand(promoted, ['CLIENT', 'LIST']));
      expect(clients).toMatch(/name=celeriac-broker-blocking/);
      expect(clients).toMatch(/name=celeriac-control/);
      expect(clients).toMatch(/name=celeriac-coordination-sub/);
    } finally {
      await broker.close();
      await coordination.close();
    }
  }, 60_000);
});
