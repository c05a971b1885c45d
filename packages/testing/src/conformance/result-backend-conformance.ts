import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ErrorCodes,
  buildResultDocument,
  isCeleriacError,
  type BrokerMessage,
  type Delivery,
  type ResultBackend,
  type ResultDocument,
  type TaskState,
} from '@celeriac/core';
import { uniqueName } from '../unique.js';

/** One result backend instance under test and whatever must be torn down with it. */
export interface ResultBackendFixture {
  backend: ResultBackend;
  /** Closes the backend (which may already be closed) and what the fixture started for it. */
  close(): Promise<void>;
}

export interface ResultBackendConformanceOptions {
  /**
   * How long to watch before concluding that a wait did not resolve, in milliseconds.
   * @default 300
   */
  quietMs?: number;
  /**
   * How long to wait for something that should happen, in milliseconds.
   * @default 5000
   */
  timeoutMs?: number;
  /**
   * The short expiry the expiry test stores with, in milliseconds; the test then waits about
   * three times as long. Backends implement real TTLs, so this is real waiting.
   * @default 200
   */
  expiresMs?: number;
}

/**
 * The contract tests every `ResultBackend` implementation passes (DESIGN.md §2). `factory` is
 * called once per backend instance a test needs (some use two, as a worker and a client would);
 * every instance must reach the same documents. Task ids are unique per test.
 */
export function resultBackendConformance(
  name: string,
  factory: () => Promise<ResultBackendFixture>,
  options: ResultBackendConformanceOptions = {},
): void {
  const quietMs = options.quietMs ?? 300;
  const timeoutMs = options.timeoutMs ?? 5000;
  const expiresMs = options.expiresMs ?? 200;

  describe(`ResultBackend conformance: ${name}`, () => {
    const fixtures: ResultBackendFixture[] = [];
    let backend: ResultBackend;

    const open = async (): Promise<ResultBackend> => {
      const f = await factory();
      fixtures.push(f);
      return f.backend;
    };

    beforeEach(async () => {
      backend = await open();
    });

    afterEach(async () => {
      for (const f of fixtures.splice(0).reverse()) await f.close();
    });

    it('stores a document and reads it back; an unknown id reads as null', async () => {
      const id = uniqueName('task');
      const doc = buildResultDocument({
        taskId: id,
        status: 'SUCCESS',
        result: { sum: 5, list: [1, 'two', null], nested: { ok: true } },
        children: [],
        dateDone: new Date('2025-01-02T03:04:05.678Z'),
        groupId: uniqueName('group'),
        parentId: uniqueName('parent'),
        extended: {
          name: 'conformance.add',
          args: [2, 3],
          kwargs: { z: 1 },
          worker: 'celery@host',
          retries: 0,
          queue: 'celery',
        },
      });
      await backend.store(doc);
      expect(await backend.get(id)).toEqual(doc);
      expect(await backend.get(uniqueName('missing'))).toBeNull();
    });

    it('never overwrites a stored SUCCESS', async () => {
      const id = uniqueName('task');
      await backend.store(doc(id, 'STARTED'));
      await backend.store(doc(id, 'PROGRESS', { done: 1 }));
      expect((await backend.get(id))?.status).toBe('PROGRESS');
      await backend.store(doc(id, 'SUCCESS', 42));
      await backend.store(doc(id, 'FAILURE', failure('late')));
      await backend.store(doc(id, 'STARTED'));
      await backend.store(doc(id, 'RETRY', failure('late')));
      const got = await backend.get(id);
      expect(got?.status).toBe('SUCCESS');
      expect(got?.result).toBe(42);
    });

    it('getMany answers in order, with null for unknown ids', async () => {
      const a = uniqueName('task');
      const b = uniqueName('task');
      const missing = uniqueName('missing');
      await backend.store(doc(a, 'SUCCESS', 'a'));
      await backend.store(doc(b, 'STARTED'));
      const got = await backend.getMany([b, missing, a]);
      expect(got.map((d) => d?.status ?? null)).toEqual(['STARTED', null, 'SUCCESS']);
      expect(got[2]?.result).toBe('a');
      expect(await backend.getMany([])).toEqual([]);
    });

    it('waitFor resolves when a ready state is stored later', async () => {
      const id = uniqueName('task');
      const waiting = backend.waitFor(id, { timeoutMs });
      await sleep(50);
      await backend.store(doc(id, 'SUCCESS', 'done'));
      const got = await waiting;
      expect(got.status).toBe('SUCCESS');
      expect(got.result).toBe('done');
    });

    it('waitFor sees a store that races with it', async () => {
      const id = uniqueName('task');
      const waiting = backend.waitFor(id, { timeoutMs });
      const stored = backend.store(doc(id, 'FAILURE', failure('boom')));
      await stored;
      expect((await waiting).status).toBe('FAILURE');
    });

    it('waitFor resolves at once for a task already ready (SUCCESS, FAILURE, REVOKED)', async () => {
      for (const status of ['SUCCESS', 'FAILURE', 'REVOKED'] as const) {
        const id = uniqueName('task');
        await backend.store(doc(id, status, status === 'SUCCESS' ? 1 : failure(status)));
        const started = Date.now();
        const got = await backend.waitFor(id, { timeoutMs });
        expect(got.status).toBe(status);
        expect(Date.now() - started).toBeLessThan(timeoutMs);
      }
    });

    it('waitFor does not resolve on STARTED, RETRY or PROGRESS', async () => {
      const id = uniqueName('task');
      const waiting = backend.waitFor(id, { timeoutMs: timeoutMs + quietMs * 2 });
      const state = track(waiting);
      await sleep(50);
      await backend.store(doc(id, 'STARTED'));
      await backend.store(doc(id, 'RETRY', failure('again')));
      await backend.store(doc(id, 'PROGRESS', { done: 3 }));
      await sleep(quietMs);
      expect(state.settled).toBe(false);
      await backend.store(doc(id, 'SUCCESS', 'finally'));
      expect((await waiting).result).toBe('finally');
    });

    it('several waiters on one task all resolve', async () => {
      const id = uniqueName('task');
      const waits = [
        backend.waitFor(id, { timeoutMs }),
        backend.waitFor(id, { timeoutMs }),
        backend.waitFor(id),
      ];
      await sleep(50);
      await backend.store(doc(id, 'SUCCESS', 7));
      for (const got of await Promise.all(waits)) expect(got.result).toBe(7);
    });

    it('waitFor rejects with CELERIAC_ERR_TIMEOUT after timeoutMs', async () => {
      const started = Date.now();
      const err = await rejection(backend.waitFor(uniqueName('never'), { timeoutMs: 150 }));
      const elapsed = Date.now() - started;
      expect(isCeleriacError(err, ErrorCodes.TIMEOUT)).toBe(true);
      expect(elapsed).toBeGreaterThanOrEqual(140);
      expect(elapsed).toBeLessThan(150 + timeoutMs);
    });

    it('waitFor rejects with the abort reason when its signal aborts', async () => {
      const controller = new AbortController();
      const reason = new Error('caller gave up');
      const waiting = rejection(
        backend.waitFor(uniqueName('never'), { signal: controller.signal }),
      );
      await sleep(20);
      controller.abort(reason);
      expect(await waiting).toBe(reason);

      const already = AbortSignal.abort(reason);
      expect(await rejection(backend.waitFor(uniqueName('never'), { signal: already }))).toBe(
        reason,
      );
    });

    it('forget deletes a result', async () => {
      const id = uniqueName('task');
      await backend.store(doc(id, 'SUCCESS', 1));
      await backend.forget(id);
      expect(await backend.get(id)).toBeNull();
      await backend.forget(uniqueName('missing'));
    });

    it('honors expiresMs', async () => {
      const id = uniqueName('task');
      const keep = uniqueName('task');
      await backend.store(doc(id, 'SUCCESS', 'short-lived'), { expiresMs });
      await backend.store(doc(keep, 'SUCCESS', 'long-lived'));
      expect((await backend.get(id))?.result).toBe('short-lived');
      await sleep(expiresMs * 3);
      expect(await backend.get(id)).toBeNull();
      expect(await backend.getMany([id, keep])).toEqual([
        null,
        expect.objectContaining({ result: 'long-lived' }),
      ]);
      // An expired SUCCESS no longer blocks a new document.
      await backend.store(doc(id, 'STARTED'));
      expect((await backend.get(id))?.status).toBe('STARTED');
    });

    it('store with ack stores the document, then acks the delivery once', async () => {
      const id = uniqueName('task');
      let acks = 0;
      let storedWhenAcked: ResultDocument | null = null;
      const delivery = fakeDelivery(async () => {
        acks++;
        storedWhenAcked = await backend.get(id);
      });
      await backend.store(doc(id, 'SUCCESS', 'acked'), { ack: delivery });
      expect(acks).toBe(1);
      expect(storedWhenAcked).toMatchObject({ status: 'SUCCESS', result: 'acked' });
      expect((await backend.get(id))?.result).toBe('acked');
    });

    it('a document stored through one instance wakes a waiter on another', async () => {
      const id = uniqueName('task');
      const worker = await open();
      const waiting = backend.waitFor(id, { timeoutMs });
      await sleep(50);
      await worker.store(doc(id, 'SUCCESS', 'across'));
      expect((await waiting).result).toBe('across');
      expect((await backend.get(id))?.result).toBe('across');
    });

    it('close rejects pending waits with CELERIAC_ERR_CLOSED and is idempotent', async () => {
      const waiting = rejection(backend.waitFor(uniqueName('never')));
      await sleep(20);
      await backend.close();
      await backend.close();
      expect(isCeleriacError(await waiting, ErrorCodes.CLOSED)).toBe(true);
    });
  });
}

function doc(taskId: string, status: TaskState, result: unknown = null): ResultDocument {
  return buildResultDocument({
    taskId,
    status,
    result,
    dateDone:
      status === 'SUCCESS' || status === 'FAILURE' || status === 'REVOKED' ? new Date() : null,
  });
}

function failure(message: string): Record<string, unknown> {
  return { exc_type: 'ValueError', exc_message: [message], exc_module: 'builtins' };
}

function track(p: Promise<unknown>): { settled: boolean } {
  const state = { settled: false };
  p.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return state;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject, it resolved');
}

/**
 * A stand-in delivery that counts acks: enough to probe the store-then-ack contract without a
 * broker. It offers no `fusedAck`, so every backend takes its plain path.
 */
function fakeDelivery(onAck: () => Promise<void>): Delivery {
  const message: BrokerMessage = {
    body: Buffer.from('[]'),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: {},
    properties: {},
  };
  return {
    message,
    queue: 'conformance',
    deliveryTag: uniqueName('tag'),
    redelivered: false,
    ack: onAck,
    requeue: () => Promise.reject(new Error('requeue must not be called')),
    deadLetter: () => Promise.reject(new Error('deadLetter must not be called')),
  };
}
