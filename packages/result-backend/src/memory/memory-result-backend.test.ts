import { afterEach, describe, expect, it } from 'vitest';
import {
  ErrorCodes,
  ManualClock,
  buildResultDocument,
  isCeleriacError,
  type ResultBackend,
  type ResultDocument,
  type TaskState,
} from '@celeriac/core';
import { DEFAULT_RESULT_EXPIRES_MS } from '@celeriac/core/internal';
import { resultBackendConformance, uniqueName } from '@celeriac/testing';
import { createResultBackend, MemoryResultBackend } from '../index.js';

const conformanceUrl = `memory://${uniqueName('conformance')}`;

resultBackendConformance('MemoryResultBackend', () => {
  const backend = new MemoryResultBackend({ url: conformanceUrl });
  return Promise.resolve({ backend, close: () => backend.close() });
});

function doc(taskId: string, status: TaskState, result: unknown = null): ResultDocument {
  return buildResultDocument({ taskId, status, result });
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return isCeleriacError(err) ? err.code : `not a CeleriacError: ${String(err)}`;
  }
  return undefined;
}

function timersActive(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

describe('MemoryResultBackend', () => {
  const opened: ResultBackend[] = [];
  const open = (
    options: ConstructorParameters<typeof MemoryResultBackend>[0] = {},
  ): MemoryResultBackend => {
    const b = new MemoryResultBackend(options);
    opened.push(b);
    return b;
  };
  const ns = (): string => `memory://${uniqueName('ns')}`;

  afterEach(async () => {
    for (const b of opened.splice(0)) await b.close();
  });

  describe('expiry on an injected clock', () => {
    it('reads a document as null once its expiresMs has passed', async () => {
      const clock = new ManualClock(0);
      const backend = open({ url: ns(), clock });
      await backend.store(doc('t1', 'SUCCESS', 1), { expiresMs: 1000 });
      clock.advance(999);
      expect((await backend.get('t1'))?.result).toBe(1);
      clock.advance(1);
      expect(await backend.get('t1')).toBeNull();
    });

    it('defaults to one day, or to resultExpiresMs', async () => {
      const clock = new ManualClock(0);
      const url = ns();
      const backend = open({ url, clock });
      const short = open({ url, resultExpiresMs: 5000 });
      await backend.store(doc('day', 'SUCCESS'));
      await short.store(doc('short', 'SUCCESS'));
      clock.advance(5000);
      expect(await backend.get('short')).toBeNull();
      clock.advance(DEFAULT_RESULT_EXPIRES_MS - 5001);
      expect(await backend.get('day')).not.toBeNull();
      clock.advance(1);
      expect(await backend.get('day')).toBeNull();
    });

    it('keeps no timer per document, and clears a wait timer once the wait ends', async () => {
      const backend = open({ url: ns() });
      const before = timersActive();
      for (let i = 0; i < 50; i++)
        await backend.store(doc(`t${i}`, 'SUCCESS', i), { expiresMs: 60_000 });
      expect(timersActive()).toBe(before);
      const waiting = backend.waitFor('later', { timeoutMs: 60_000 });
      expect(timersActive()).toBe(before + 1);
      await backend.store(doc('later', 'SUCCESS'));
      await waiting;
      expect(timersActive()).toBe(before);
    });
  });

  describe('shared namespaces', () => {
    it('backends on one memory://name share documents; another name is separate', async () => {
      const url = ns();
      const worker = open({ url });
      const client = open({ url });
      const stranger = open({ url: ns() });
      await worker.store(doc('t', 'SUCCESS', 'shared'));
      expect((await client.get('t'))?.result).toBe('shared');
      expect(await stranger.get('t')).toBeNull();
      expect(client.namespace).toBe(url.slice('memory://'.length));
    });

    it('memory:// and no url are the process-wide default namespace', async () => {
      const a = open();
      const b = open({ url: 'memory://' });
      const id = uniqueName('t');
      await a.store(doc(id, 'SUCCESS'));
      expect(await b.get(id)).not.toBeNull();
      expect(a.namespace).toBe('default');
      await a.forget(id);
    });

    it('documents outlive the backend that stored them', async () => {
      const url = ns();
      const worker = new MemoryResultBackend({ url });
      await worker.store(doc('t', 'SUCCESS', 'kept'));
      await worker.close();
      expect((await open({ url }).get('t'))?.result).toBe('kept');
    });

    it('refuses a backend whose clock differs from its namespace', () => {
      const url = ns();
      open({ url, clock: new ManualClock(0) });
      expect(() => new MemoryResultBackend({ url, clock: new ManualClock(0) })).toThrow(
        expect.objectContaining({ code: ErrorCodes.INVALID_OPTION }) as Error,
      );
    });
  });

  it('is isolated from mutation of what was stored or read', async () => {
    const backend = open({ url: ns() });
    const stored = doc('t', 'SUCCESS', { list: [1] });
    await backend.store(stored);
    (stored.result as { list: number[] }).list.push(2);
    const read = await backend.get('t');
    expect(read?.result).toEqual({ list: [1] });
    (read?.result as { list: number[] }).list.push(3);
    expect((await backend.get('t'))?.result).toEqual({ list: [1] });
  });

  it('refuses a result that cannot be stored as JSON', async () => {
    const backend = open({ url: ns() });
    expect(await codeOf(backend.store(doc('t', 'SUCCESS', () => 1)))).toBe(
      ErrorCodes.SERIALIZATION,
    );
  });

  it('validates its arguments', async () => {
    const backend = open({ url: ns() });
    expect(await codeOf(backend.store(doc('t', 'SUCCESS'), { expiresMs: 0 }))).toBe(
      ErrorCodes.INVALID_OPTION,
    );
    expect(await codeOf(backend.store(doc('', 'SUCCESS')))).toBe(ErrorCodes.INVALID_OPTION);
    expect(await codeOf(backend.waitFor('t', { timeoutMs: -1 }))).toBe(ErrorCodes.INVALID_OPTION);
    expect(await codeOf(backend.get(''))).toBe(ErrorCodes.INVALID_OPTION);
    expect(() => new MemoryResultBackend({ url: ns(), resultExpiresMs: Number.NaN })).toThrow(
      expect.objectContaining({ code: ErrorCodes.INVALID_OPTION }) as Error,
    );
    expect(() => new MemoryResultBackend({ url: 'redis://localhost' })).toThrow(
      expect.objectContaining({ code: ErrorCodes.UNSUPPORTED_URL }) as Error,
    );
  });

  it('refuses work once closed', async () => {
    const backend = new MemoryResultBackend({ url: ns() });
    await backend.close();
    expect(await codeOf(backend.store(doc('t', 'SUCCESS')))).toBe(ErrorCodes.CLOSED);
    expect(await codeOf(backend.get('t'))).toBe(ErrorCodes.CLOSED);
    expect(await codeOf(backend.waitFor('t'))).toBe(ErrorCodes.CLOSED);
  });

  it('closing one backend leaves the waits of another', async () => {
    const url = ns();
    const a = new MemoryResultBackend({ url });
    const b = open({ url });
    const waiting = b.waitFor('t', { timeoutMs: 2000 });
    await a.close();
    await b.store(doc('t', 'SUCCESS', 'still here'));
    expect((await waiting).result).toBe('still here');
  });

  describe('createResultBackend', () => {
    it('creates memory backends by URL, sharing named namespaces', async () => {
      const url = ns();
      const a = await createResultBackend(url, { resultExpiresMs: 1000 });
      const b = await createResultBackend(url);
      opened.push(a, b);
      expect(a).toBeInstanceOf(MemoryResultBackend);
      expect(a.kind).toBe('memory');
      await a.store(doc('t', 'SUCCESS', 1));
      expect((await b.get('t'))?.result).toBe(1);
    });

    it('refuses unknown schemes, naming the supported ones', async () => {
      const err: unknown = await createResultBackend('mongodb://u:s3cret@h/db').catch(
        (e: unknown) => e,
      );
      expect(isCeleriacError(err, ErrorCodes.UNSUPPORTED_URL)).toBe(true);
      expect((err as Error).message).toMatch(/memory:\/\/.*redis:\/\//);
      expect((err as Error).message).not.toContain('s3cret');
      expect(await codeOf(createResultBackend(''))).toBe(ErrorCodes.UNSUPPORTED_URL);
    });

    it('loads redis:// lazily, or explains why it cannot', async () => {
      // The Redis backend ships separately (@celeriac/result-backend/redis + ioredis); whichever
      // state this tree is in, the answer is a redis backend or an error with a stable code.
      const result: unknown = await createResultBackend('redis://127.0.0.1:1/0', {
        redisOptions: { lazyConnect: true },
      }).catch((e: unknown) => e);
      if (isCeleriacError(result)) {
        expect([ErrorCodes.UNSUPPORTED_URL, ErrorCodes.MISSING_DRIVER]).toContain(result.code);
      } else {
        const backend = result as ResultBackend;
        expect(backend.kind).toBe('redis');
        await backend.close();
      }
    });
  });
});
