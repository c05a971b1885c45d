import { describe, expect, it } from 'vitest';
import { isCeleriacError, silentLogger } from '@celeriac/core';
import { Celeriac } from './index.js';

function memoryApp(): Celeriac {
  return new Celeriac({
    broker: `memory://${Math.random().toString(36).slice(2)}`,
    logger: silentLogger,
  });
}

describe('close()', () => {
  it('waits for the publishes under way, then closes', async () => {
    const app = memoryApp();
    const add = app.task('tasks.add', (a: number, b: number) => a + b);
    const results = Array.from({ length: 50 }, (_, i) => add.delay(i, 1));
    await app.close();
    const settled = await Promise.allSettled(results.map((r) => r.published));
    expect(settled.map((s) => s.status)).toEqual(results.map(() => 'fulfilled'));
  });

  it('refuses a send once close() was called, with CELERIAC_ERR_CLOSED', async () => {
    const app = memoryApp();
    const add = app.task('tasks.add', (a: number, b: number) => a + b);
    const closing = app.close();
    let caught: unknown;
    try {
      add.delay(1, 2);
    } catch (err) {
      caught = err;
    }
    expect(isCeleriacError(caught) && caught.code).toBe('CELERIAC_ERR_CLOSED');
    await closing;
    expect(app.close()).toBe(app.close()); // idempotent: one close, one promise
  });
});

describe('overrideUrls()', () => {
  it('moves the broker, and the backend derived from it, before the app connects', () => {
    const app = new Celeriac({ broker: 'memory://a', logger: silentLogger });
    app.overrideUrls({ broker: 'redis://127.0.0.1:6390/2' });
    expect(app.options.brokerUrl).toBe('redis://127.0.0.1:6390/2');
    expect(app.options.backendUrl).toBe('redis://127.0.0.1:6390/2');
  });

  it('keeps a backend the app named unless one is given', () => {
    const app = new Celeriac({
      broker: 'memory://a',
      backend: 'redis://127.0.0.1:6391/0',
      logger: silentLogger,
    });
    app.overrideUrls({ broker: 'memory://b' });
    expect(app.options.backendUrl).toBe('redis://127.0.0.1:6391/0');
    app.overrideUrls({ backend: 'memory://c' });
    expect(app.options).toMatchObject({ brokerUrl: 'memory://b', backendUrl: 'memory://c' });
  });

  it('is refused once the app has connected, with CELERIAC_ERR_INVALID_STATE', async () => {
    const app = memoryApp();
    await app.broker();
    expect(() => app.overrideUrls({ broker: 'memory://other' })).toThrow(/before the app connects/);
    expect(() => app.overrideUrls({ broker: 'memory://other' })).toThrow(
      expect.objectContaining({
        code: 'CELERIAC_ERR_INVALID_STATE',
        details: { state: 'connected' },
      }),
    );
    await app.close();
  });
});
