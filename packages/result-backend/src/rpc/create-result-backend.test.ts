import { describe, expect, it } from 'vitest';
import { ErrorCodes, isCeleriacError } from '@celeriac/core';
import { createResultBackend } from '../index.js';

describe('createResultBackend with rpc://', () => {
  it('loads @celeriac/result-backend/rpc lazily, with the broker URL; nothing connects yet', async () => {
    const backend = await createResultBackend('rpc://', {
      brokerUrl: 'amqp://guest:guest@127.0.0.1:1//',
    });
    expect(backend.kind).toBe('rpc');
    expect(typeof (backend as { replyTo?: unknown }).replyTo).toBe('string');
    await backend.close();
  });

  it('asks for the AMQP broker URL a bare rpc:// needs', async () => {
    const saved = process.env['CELERIAC_BROKER_URL'];
    delete process.env['CELERIAC_BROKER_URL'];
    try {
      const err: unknown = await createResultBackend('rpc://').catch((e: unknown) => e);
      expect(isCeleriacError(err, ErrorCodes.INVALID_OPTION)).toBe(true);
      expect((err as Error).message).toMatch(/brokerUrl/);
    } finally {
      if (saved !== undefined) process.env['CELERIAC_BROKER_URL'] = saved;
    }
  });

  it('points an amqp:// result backend URL at rpc://', async () => {
    const err: unknown = await createResultBackend('amqp://guest:s3cret@h//').catch(
      (e: unknown) => e,
    );
    expect(isCeleriacError(err, ErrorCodes.UNSUPPORTED_URL)).toBe(true);
    expect((err as Error).message).toMatch(/use rpc:\/\//);
    expect((err as Error).message).not.toContain('s3cret');
  });
});
