import type { ChordPart } from '@celeriac/core';
import { startRedisServer, uniqueName, type RedisServerHandle } from '@celeriac/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisResultBackend } from './index.js';
import { chordKeys } from './chord-join.js';

let server: RedisServerHandle | undefined;
let url: string;
let raw: Redis;
const backends: RedisResultBackend[] = [];

beforeAll(async () => {
  const fromEnv = process.env['REDIS_URL'];
  if (fromEnv) {
    url = fromEnv;
  } else {
    server = await startRedisServer();
    url = server.url;
  }
  raw = new Redis(url);
});

afterAll(async () => {
  await Promise.all(backends.map((b) => b.close()));
  raw.disconnect();
  await server?.stop();
});

function backend(): RedisResultBackend {
  const b = new RedisResultBackend({ url });
  backends.push(b);
  return b;
}

const body = {
  task: 'py.tsum',
  args: [],
  kwargs: {},
  options: { task_id: 'body-id' },
  subtask_type: null,
  immutable: false,
};

function part(groupId: string, i: number, over: Partial<ChordPart> = {}): ChordPart {
  return {
    groupId,
    taskId: `t-${i}`,
    groupIndex: i,
    state: 'SUCCESS',
    result: i * 10,
    chord: body,
    ...over,
  };
}

describe('RedisResultBackend.chordPartReturned (Celery native chord join)', () => {
  it('completes on the last part only, with results in group_index order, and releases the keys', async () => {
    const b = backend();
    const gid = uniqueName('g');
    const [j, t, s] = chordKeys('celery-task-meta-', gid);
    expect(j).toBe(`celery-taskset-meta-${gid}.j`);
    await raw.set(s, '3');
    expect(await b.chordPartReturned(part(gid, 2))).toBeUndefined();
    expect(await b.chordPartReturned(part(gid, 0))).toBeUndefined();
    const join = await b.chordPartReturned(part(gid, 1));
    expect(join).toMatchObject({ kind: 'complete', results: [0, 10, 20] });
    // Celery's layout: a zset of [1, id, state, result] scored by group_index, with a TTL.
    expect(await raw.zrange(j, 0, -1, 'WITHSCORES')).toEqual([
      '[1,"t-0","SUCCESS",0]',
      '0',
      '[1,"t-1","SUCCESS",10]',
      '1',
      '[1,"t-2","SUCCESS",20]',
      '2',
    ]);
    expect(await raw.ttl(j)).toBeGreaterThan(86_000);
    await join?.release();
    expect(await raw.exists(j, t, s)).toBe(0);
  });

  it('counts .t (add_to_chord) into the size, and does nothing without .s', async () => {
    const b = backend();
    const gid = uniqueName('g');
    const [, t, s] = chordKeys('celery-task-meta-', gid);
    expect(await b.chordPartReturned(part(gid, 0))).toBeUndefined();
    await raw.set(s, '1');
    await raw.incrby(t, 1);
    expect(await b.chordPartReturned(part(gid, 1))).toMatchObject({
      kind: 'complete',
      results: [0, 10],
    });
  });

  it('completes exactly once when the last parts return at the same time', async () => {
    const clients = [backend(), backend(), backend(), backend()];
    const gid = uniqueName('g');
    await raw.set(chordKeys('celery-task-meta-', gid)[2], '200');
    const joins = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        clients[i % clients.length]!.chordPartReturned(part(gid, i)),
      ),
    );
    const done = joins.filter((x) => x !== undefined);
    expect(done).toHaveLength(1);
    expect(done[0]).toMatchObject({ kind: 'complete' });
    expect((done[0] as { results: unknown[] }).results).toEqual(
      Array.from({ length: 200 }, (_, i) => i * 10),
    );
  });

  it('a redelivered part does not count twice', async () => {
    const b = backend();
    const gid = uniqueName('g');
    await raw.set(chordKeys('celery-task-meta-', gid)[2], '2');
    expect(await b.chordPartReturned(part(gid, 0))).toBeUndefined();
    expect(await b.chordPartReturned(part(gid, 0))).toBeUndefined();
    expect(await b.chordPartReturned(part(gid, 1))).toMatchObject({ kind: 'complete' });
  });

  it('a redelivered part with another result is still counted once', async () => {
    const b = backend();
    const gid = uniqueName('g');
    const [j, , s] = chordKeys('celery-task-meta-', gid);
    await raw.set(s, '3');
    expect(await b.chordPartReturned(part(gid, 0))).toBeUndefined();
    // Its rerun returned something else: Celery would add a second member and complete early.
    expect(await b.chordPartReturned(part(gid, 0, { result: 'other' }))).toBeUndefined();
    expect(await b.chordPartReturned(part(gid, 1))).toBeUndefined();
    expect(await raw.zcard(j)).toBe(2);
    expect(await b.chordPartReturned(part(gid, 2))).toMatchObject({
      kind: 'complete',
      results: [0, 10, 20],
      repeat: false,
    });
  });

  it('after the chord completed, only its completing part completes it again (repeat), until released', async () => {
    const b = backend();
    const gid = uniqueName('g');
    const [j, t, s, claim] = chordKeys('celery-task-meta-', gid);
    await raw.set(s, '3');
    await b.chordPartReturned(part(gid, 0));
    await b.chordPartReturned(part(gid, 2));
    const first = await b.chordPartReturned(part(gid, 1));
    expect(first).toMatchObject({ kind: 'complete', repeat: false, results: [0, 10, 20] });
    expect(await raw.get(claim)).toBe('t-1');
    expect(await raw.ttl(claim)).toBeGreaterThan(86_000);
    // Its worker died before releasing: duplicates of the other parts do not complete it ...
    expect(await b.chordPartReturned(part(gid, 0))).toBeUndefined();
    expect(await b.chordPartReturned(part(gid, 2, { result: 'rerun' }))).toBeUndefined();
    // ... the completing part, redelivered, does (with the first results), as often as it comes.
    for (let i = 0; i < 2; i++) {
      expect(await b.chordPartReturned(part(gid, 1, { result: 'rerun' }))).toMatchObject({
        kind: 'complete',
        repeat: true,
        results: [0, 10, 20],
      });
    }
    await first?.release();
    expect(await raw.exists(j, t, s, claim)).toBe(0);
    // Released: no size any more, so even the completing part completes nothing.
    expect(await b.chordPartReturned(part(gid, 1))).toBeUndefined();
  });

  it('a failed chord repeats its failure to its completing part only', async () => {
    const b = backend();
    const gid = uniqueName('g');
    await raw.set(chordKeys('celery-task-meta-', gid)[2], '2');
    const exc = { exc_type: 'ValueError', exc_message: ['x'], exc_module: 'builtins' };
    await b.chordPartReturned(part(gid, 0, { state: 'FAILURE', result: exc }));
    expect(await b.chordPartReturned(part(gid, 1))).toMatchObject({
      kind: 'failed',
      repeat: false,
    });
    expect(await b.chordPartReturned(part(gid, 0, { state: 'FAILURE', result: exc }))).toBe(
      undefined,
    );
    expect(await b.chordPartReturned(part(gid, 1))).toMatchObject({
      kind: 'failed',
      taskId: 't-0',
      repeat: true,
    });
  });

  it('a duplicate finding the count complete without a claim leaves the body to the Python worker that completed it', async () => {
    const b = backend();
    const gid = uniqueName('g');
    const [j, , s, claim] = chordKeys('celery-task-meta-', gid);
    await raw.set(s, '2');
    expect(await b.chordPartReturned(part(gid, 0))).toBeUndefined();
    // A Python worker adds the last part as Celery does (ZADD, no claim) and publishes the body.
    await raw.zadd(j, '1', JSON.stringify([1, 'py-1', 'SUCCESS', 10]));
    expect(await b.chordPartReturned(part(gid, 0))).toBeUndefined();
    expect(await raw.exists(claim)).toBe(0);
  });

  it('names the first failed part, as Celery raises ChordError', async () => {
    const b = backend();
    const gid = uniqueName('g');
    await raw.set(chordKeys('celery-task-meta-', gid)[2], '2');
    const exc = { exc_type: 'ValueError', exc_message: ["it's bad"], exc_module: 'builtins' };
    await b.chordPartReturned(part(gid, 1, { state: 'FAILURE', result: exc }));
    const join = await b.chordPartReturned(part(gid, 0));
    expect(join).toMatchObject({
      kind: 'failed',
      taskId: 't-1',
      message: `Dependency t-1 raised ValueError("it's bad")`,
    });
  });

  it('uses a list when Python made one (result_chord_ordered=False)', async () => {
    const b = backend();
    const gid = uniqueName('g');
    const [j, , s] = chordKeys('celery-task-meta-', gid);
    await raw.set(s, '2');
    await raw.rpush(j, JSON.stringify([1, 'py', 'SUCCESS', 'first']));
    expect(await b.chordPartReturned(part(gid, 0))).toMatchObject({
      kind: 'complete',
      results: ['first', 0],
    });
  });
});

describe('the chord join in msgpack (Celery with result_serializer="msgpack")', () => {
  it('writes its entries in msgpack, reads JSON and msgpack entries alike, and counts a redelivered msgpack part once', async () => {
    const { msgpackSerializer } = await import('@celeriac/core');
    const b = new RedisResultBackend({ url, serializer: 'msgpack' });
    backends.push(b);
    const gid = uniqueName('gm');
    const [j, , s] = chordKeys('celery-task-meta-', gid);
    await raw.set(s, '3');
    // A part another worker (JSON-configured) counted, as Celery writes it.
    await raw.zadd(j, 0, '[1,"t-0","SUCCESS",{"big":[1,2]}]');
    expect(await b.chordPartReturned(part(gid, 1, { result: 'one' }))).toBeUndefined();
    // Redelivered with another result: still one entry for t-1 (found through cmsgpack).
    expect(await b.chordPartReturned(part(gid, 1, { result: 'again' }))).toBeUndefined();
    const entries = await raw.zrangeBuffer(j, 1, 1);
    expect(entries).toHaveLength(1);
    expect(entries[0]![0]).toBe(0x94); // msgpack fixarray of 4, as Python's msgpack writes it
    expect(msgpackSerializer.decode(entries[0]!)).toEqual([1, 't-1', 'SUCCESS', 'one']);
    const join = await b.chordPartReturned(part(gid, 2, { result: 2.5 }));
    expect(join).toMatchObject({ kind: 'complete', results: [{ big: [1, 2] }, 'one', 2.5] });
  });
});
