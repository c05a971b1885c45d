import { describe, expect, it } from 'vitest';
import { CeleriacError, ErrorCodes, silentLogger, type Broker } from '@celeriac/core';
import { MemoryBroker } from '@celeriac/broker/memory';
import { MemoryResultBackend } from '@celeriac/result-backend';
import { Celeriac } from './index.js';

/**
 * A memory broker whose publishes settle only when the test says: a broker slow to confirm
 * (RabbitMQ's confirm of a persistent message may wait for a disk sync).
 */
function slowBroker(): { broker: Broker; confirm(err?: Error): void; published: Promise<void> } {
  const inner = new MemoryBroker();
  let settle!: (err?: Error) => void;
  let sent!: () => void;
  const published = new Promise<void>((r) => (sent = r));
  const gate = new Promise<void>((resolve, reject) => {
    settle = (err) => (err ? reject(err) : resolve());
  });
  gate.catch(() => undefined);
  const broker = new Proxy(inner, {
    get(target, key) {
      if (key === 'publish') {
        return async (...args: Parameters<Broker['publish']>) => {
          await target.publish(...args);
          sent();
          await gate;
        };
      }
      const v: unknown = Reflect.get(target, key, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { broker, confirm: settle, published };
}

function app(broker: Broker, backend: MemoryResultBackend): Celeriac {
  return new Celeriac({ broker, backend, logger: silentLogger });
}

const done = (taskId: string, result: unknown) => ({
  task_id: taskId,
  status: 'SUCCESS' as const,
  result,
  traceback: null,
  children: [],
  date_done: new Date().toISOString(),
});

describe('AsyncResult.get() beside the publish', () => {
  it('returns the result as soon as it is stored, before the broker confirmed the publish', async () => {
    const slow = slowBroker();
    const backend = new MemoryResultBackend();
    const a = app(slow.broker, backend);
    const r = a.task('t', () => 1).delay();
    await slow.published; // on the broker, not confirmed
    const got = r.get({ timeout: 5 });
    await backend.store(done(r.id, 42));
    expect(await got).toBe(42);
    slow.confirm();
    await r.published;
    await a.close();
  });

  it('rejects with the publish error, and stops waiting, when the publish fails', async () => {
    const slow = slowBroker();
    const backend = new MemoryResultBackend();
    const a = app(slow.broker, backend);
    const r = a.task('t', () => 1).delay();
    await slow.published;
    const got = r.get(); // no timeout: only the failed publish can end it
    slow.confirm(new CeleriacError(ErrorCodes.PUBLISH_FAILED, 'nacked'));
    await expect(got).rejects.toMatchObject({ code: ErrorCodes.PUBLISH_FAILED });
    await a.close();
  });

  it('still ends the wait on the caller signal and on timeout', async () => {
    const slow = slowBroker();
    const backend = new MemoryResultBackend();
    const a = app(slow.broker, backend);
    const t = a.task('t', () => 1);
    const ac = new AbortController();
    const first = t.delay().get({ signal: ac.signal });
    ac.abort(new Error('stop'));
    await expect(first).rejects.toThrow('stop');
    await expect(t.delay().get({ timeout: 0.05 })).rejects.toMatchObject({
      code: ErrorCodes.TIMEOUT,
    });
    slow.confirm();
    await a.close();
  });
});
