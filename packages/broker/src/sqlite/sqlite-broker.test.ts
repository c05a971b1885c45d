import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, isCeleriacError, type BrokerMessage, type Delivery } from '@celeriac/core';
import { uniqueName } from '@celeriac/testing';
import { createBroker } from '../index.js';
import { createCoordination } from '../coordination/index.js';
import { SqliteBroker, type SqliteBrokerOptions } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'celeriac-sqlite-broker-'));
const url = `sqlite://${join(dir, 'broker.db')}`;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The child processes load the built subpath, as another program on the host would.
const BROKER_MODULE = pathToFileURL(
  fileURLToPath(new URL('../../dist/sqlite/index.js', import.meta.url)),
).href;
const CHILD = join(dir, 'child.mjs');
writeFileSync(
  CHILD,
  `
const { SqliteBroker } = await import(process.env.BROKER_MODULE);
const broker = new SqliteBroker({ url: process.env.DB_URL, visibilityTimeout: Number(process.env.LEASE) });
const queue = process.env.QUEUE;
const message = (id) => ({
  body: Buffer.from(JSON.stringify([[id], {}, {}])),
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  headers: { id, task: 'tests.t' },
  properties: { correlation_id: id },
});
if (process.env.MODE === 'hold') {
  // Takes one message and never settles it: only SIGKILL ends this process.
  await broker.consume({ queues: [queue], prefetch: 1, onMessage: (d) => process.stdout.write('held ' + d.message.headers.id + '\\n') });
  process.stdout.write('consuming\\n');
} else {
  // A delay is counted from the child's own now: its start-up time must not eat it.
  const deliverAt = process.env.DELAY_MS ? Date.now() + Number(process.env.DELAY_MS) : undefined;
  await broker.publish(queue, message(process.env.ID), deliverAt === undefined ? undefined : { deliverAt });
  await broker.close();
  if (deliverAt !== undefined) process.stdout.write('due ' + deliverAt + '\\n');
  process.stdout.write('published\\n');
}
`,
);

interface Child {
  readonly child: ChildProcess;
  /** Resolves when the child printed `line`. */
  said(line: string): Promise<void>;
  /** What it printed so far. */
  output(): string;
  readonly exited: Promise<number | null>;
}

const children: ChildProcess[] = [];

function startChild(env: Record<string, string>): Child {
  const child = spawn(process.execPath, [CHILD], {
    env: { ...process.env, BROKER_MODULE, DB_URL: url, LEASE: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  const waiters: { line: string; resolve: () => void }[] = [];
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of [...waiters]) {
      if (out.split('\n').includes(w.line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return {
    child,
    exited,
    output: () => out,
    said: (line) =>
      new Promise<void>((resolve, reject) => {
        if (out.split('\n').includes(line)) return resolve();
        waiters.push({ line, resolve });
        void exited.then((code) =>
          reject(
            new Error(`child exited (${String(code)}) before saying "${line}":\n${out}\n${err}`),
          ),
        );
      }),
  };
}

function msg(id: string): BrokerMessage {
  return {
    body: Buffer.from(id),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: { id, task: 'tests.t' },
    properties: { correlation_id: id },
  };
}

const idOf = (d: Delivery): string => String(d.message.headers['id']);

async function eventually(
  what: string,
  predicate: () => boolean | Promise<boolean>,
  ms = 5000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

async function codeOf(fn: () => unknown): Promise<string | undefined> {
  try {
    await fn();
  } catch (err) {
    return isCeleriacError(err) ? err.code : `not a CeleriacError: ${String(err)}`;
  }
  return undefined;
}

describe('SqliteBroker', () => {
  const brokers: SqliteBroker[] = [];
  const open = (o: Partial<SqliteBrokerOptions> = {}): SqliteBroker => {
    const b = new SqliteBroker({ url, ...o });
    brokers.push(b);
    return b;
  };
  afterEach(async () => {
    for (const c of children.splice(0))
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const b of brokers.splice(0)) await b.close();
  });

  it('renews the lease of a message its consumer holds, and redelivers it once that process is SIGKILLed', async () => {
    const queue = uniqueName('lease');
    const broker = open({ visibilityTimeout: 2 });
    await broker.publish(queue, msg('orphan'));
    const holder = startChild({ MODE: 'hold', QUEUE: queue, LEASE: '2' });
    await holder.said('held orphan');

    const received: Delivery[] = [];
    await broker.consume({ queues: [queue], prefetch: 1, onMessage: (d) => received.push(d) });
    // Over two leases long: the holder lives and renews, so nobody else gets its message.
    await sleep(4500);
    expect(received).toHaveLength(0);
    expect(await broker.count(queue)).toBe(0);
    expect(await broker.countReserved(queue)).toBe(1);

    holder.child.kill('SIGKILL');
    await holder.exited;
    // Within a lease (2 s) of the kill. Nobody commits meanwhile: the lease's expiry time wakes it.
    await eventually('the orphaned message', () => received.length === 1, 6000);
    const d = received[0] as Delivery;
    expect(idOf(d)).toBe('orphan');
    expect(d.redelivered).toBe(true);
    await d.ack();
    expect(await broker.countReserved(queue)).toBe(0);
  });

  it('a message published by another process wakes a sleeping consumer at once', async () => {
    const queue = uniqueName('wake');
    // A poll far beyond the test's patience: only the file watcher can wake the consumer in time.
    const broker = open({ pollIntervalMs: 60_000 });
    const received: Delivery[] = [];
    await broker.consume({ queues: [queue], prefetch: 1, onMessage: (d) => received.push(d) });
    await sleep(100);
    const publisher = startChild({ MODE: 'publish', QUEUE: queue, ID: 'from-afar' });
    await publisher.said('published');
    await eventually('the message from the other process', () => received.length === 1, 5000);
    expect(idOf(received[0] as Delivery)).toBe('from-afar');
    await (received[0] as Delivery).ack();
  });

  it('a delayed message published by another process is delivered when due', async () => {
    const queue = uniqueName('wake-delayed');
    const broker = open({ pollIntervalMs: 60_000 });
    const received: { d: Delivery; at: number }[] = [];
    await broker.consume({
      queues: [queue],
      prefetch: 1,
      onMessage: (d) => received.push({ d, at: Date.now() }),
    });
    const publisher = startChild({ MODE: 'publish', QUEUE: queue, ID: 'later', DELAY_MS: '1500' });
    await publisher.said('published');
    const deliverAt = Number(/^due (\d+)$/m.exec(publisher.output())?.[1]);
    expect(await broker.countDelayed(queue)).toBe(1);
    await eventually('the delayed message', () => received.length === 1, 5000);
    expect((received[0] as { at: number }).at).toBeGreaterThanOrEqual(deliverAt - 5);
    expect(await broker.countDelayed(queue)).toBe(0);
    await (received[0] as { d: Delivery }).d.ack();
  });

  it('a delayed message published on the same broker wakes its idle consumer when due', async () => {
    // The demo's countdown: a consumer that already found its queue empty, then a publish with
    // a deliverAt from this process. No other process commits, and the poll is far away: only
    // this broker's own timer can deliver it.
    const queue = uniqueName('same-broker-delayed');
    const broker = open({ pollIntervalMs: 60_000 });
    const received: { d: Delivery; at: number }[] = [];
    await broker.consume({
      queues: [queue],
      prefetch: 4,
      onMessage: (d) => received.push({ d, at: Date.now() }),
    });
    await broker.publish(queue, msg('now'));
    await eventually('the ready message', () => received.length === 1, 5000);
    await (received[0] as { d: Delivery }).d.ack();
    const deliverAt = Date.now() + 300;
    await broker.publish(queue, msg('later'), { deliverAt });
    await eventually('the delayed message', () => received.length === 2, 5000);
    const later = received[1] as { d: Delivery; at: number };
    expect(idOf(later.d)).toBe('later');
    expect(later.at).toBeGreaterThanOrEqual(deliverAt - 5);
    await later.d.ack();
  });

  it('keeps dead letters across a reopen of the file', async () => {
    const queue = uniqueName('dlq-reopen');
    const first = new SqliteBroker({ url });
    await first.publishMany(['d1', 'd2'].map((id) => ({ queue, message: msg(id) })));
    const received: Delivery[] = [];
    await first.consume({ queues: [queue], prefetch: 2, onMessage: (d) => received.push(d) });
    await eventually('two deliveries', () => received.length === 2);
    for (const d of received)
      await d.deadLetter({ code: ErrorCodes.UNKNOWN_TASK, message: `no task for ${idOf(d)}` });
    await first.close();

    const second = open();
    const listed = await second.deadLetters.list(queue);
    expect(listed.map((dl) => dl.message.headers['id']).sort()).toEqual(['d1', 'd2']);
    for (const dl of listed) {
      expect(dl.reason.code).toBe(ErrorCodes.UNKNOWN_TASK);
      expect(dl.reason.message).toBe(`no task for ${String(dl.message.headers['id'])}`);
      expect(dl.message.body.equals(Buffer.from(String(dl.message.headers['id'])))).toBe(true);
    }
    expect(await second.deadLetters.replay(queue)).toBe(2);
    expect(await second.count(queue)).toBe(2);
    expect(await second.deadLetters.count(queue)).toBe(0);
    expect(await second.purge(queue)).toBe(2);
  });

  it('caps dead letters per queue, dropping the oldest', async () => {
    const queue = uniqueName('dlq-cap');
    const broker = open({ deadLetterLimit: 2 });
    await broker.publishMany(['c1', 'c2', 'c3'].map((id) => ({ queue, message: msg(id) })));
    const received: Delivery[] = [];
    await broker.consume({ queues: [queue], prefetch: 3, onMessage: (d) => received.push(d) });
    await eventually('three deliveries', () => received.length === 3);
    for (const d of received)
      await d.deadLetter({ code: ErrorCodes.MALFORMED_MESSAGE, message: 'bad' });
    const kept = await broker.deadLetters.list(queue);
    expect(kept.map((dl) => dl.message.headers['id'])).toEqual(['c2', 'c3']);
  });

  it('claims a burst for a consumer in priority order, and serves every message once across connections', async () => {
    const queue = uniqueName('burst');
    const a = open();
    const b = open();
    const total = 500;
    await a.publishMany(
      Array.from({ length: total }, (_, i) => ({ queue, message: msg(`m${i}`) })),
    );
    const seen: string[] = [];
    for (const broker of [a, b]) {
      await broker.consume({
        queues: [queue],
        prefetch: 16,
        onMessage: (d) => {
          seen.push(idOf(d));
          void d.ack();
        },
      });
    }
    await eventually('every message', () => seen.length === total);
    expect(new Set(seen).size).toBe(total);
    expect(await a.count(queue)).toBe(0);
    await eventually('every ack committed', async () => (await a.countReserved(queue)) === 0);
  });

  it('checks its options strictly, naming the key and its nearest spelling', async () => {
    const err = (o: unknown): unknown => {
      try {
        new SqliteBroker(o as SqliteBrokerOptions);
      } catch (e) {
        return e;
      }
      return undefined;
    };
    const typo = err({ url, visibilityTimout: 30 });
    expect(isCeleriacError(typo, ErrorCodes.INVALID_OPTION)).toBe(true);
    expect((typo as Error).message).toContain('"visibilityTimout"');
    expect((typo as Error).message).toContain('visibilityTimeout');
    expect(isCeleriacError(err({ url, visibilityTimeout: 0 }), ErrorCodes.INVALID_OPTION)).toBe(
      true,
    );
    expect(isCeleriacError(err({ url, deadLetterLimit: 1.5 }), ErrorCodes.INVALID_OPTION)).toBe(
      true,
    );
    expect(isCeleriacError(err({}), ErrorCodes.INVALID_OPTION)).toBe(true);
    expect(isCeleriacError(err({ url: 'sqlite://:memory:' }), ErrorCodes.UNSUPPORTED_URL)).toBe(
      true,
    );
    expect(await codeOf(() => createBroker(url, { visibilityTimeoutMs: 5 } as never))).toBe(
      ErrorCodes.INVALID_OPTION,
    );
  });

  it('is created from a sqlite:// URL, with SQLite coordination beside it', async () => {
    const broker = await createBroker(url, { visibilityTimeout: 10 });
    brokers.push(broker as SqliteBroker);
    expect(broker.kind).toBe('sqlite');
    expect(broker.control).toBeUndefined();
    // The app hands the coordination store only the broker options it shares (busyTimeoutMs,
    // pollIntervalMs); any other key is refused, never dropped.
    expect(await codeOf(() => createCoordination(url, { visibilityTimeout: 10 } as never))).toBe(
      ErrorCodes.INVALID_OPTION,
    );
    const coordination = await createCoordination(url, { busyTimeoutMs: 1000 });
    expect(coordination.kind).toBe('sqlite');
    await coordination.close();
  });

  it('importing @celeriac/broker does not load better-sqlite3; a sqlite:// URL does', async () => {
    const index = pathToFileURL(
      fileURLToPath(new URL('../../dist/index.js', import.meta.url)),
    ).href;
    const script = `
      import { createRequire } from 'node:module';
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('better-sqlite3'));
      const { createBroker } = await import(${JSON.stringify(index)});
      const before = loaded();
      const broker = await createBroker(${JSON.stringify(url)});
      const after = loaded();
      await broker.close();
      process.stdout.write(JSON.stringify({ before, after }));
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({ before: false, after: true });
  });

  it('rejects work after close with CLOSED; a delivery settled after close is ignored', async () => {
    const queue = uniqueName('closed');
    const broker = new SqliteBroker({ url });
    const survivor = open();
    await broker.publish(queue, msg('x'));
    const received: Delivery[] = [];
    await broker.consume({ queues: [queue], prefetch: 1, onMessage: (d) => received.push(d) });
    await eventually('the delivery', () => received.length === 1);
    await broker.close();
    await (received[0] as Delivery).ack();
    expect(await survivor.count(queue)).toBe(1);
    expect(await codeOf(() => broker.count(queue))).toBe(ErrorCodes.CLOSED);
    expect(
      await codeOf(() =>
        broker.consume({ queues: [queue], prefetch: 1, onMessage: () => undefined }),
      ),
    ).toBe(ErrorCodes.CLOSED);
    expect(await codeOf(() => broker.deadLetters.count(queue))).toBe(ErrorCodes.CLOSED);
    expect(await survivor.purge(queue)).toBe(1);
  });
});
