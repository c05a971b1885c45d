/**
 * The app's `resultSerializer` (Celery's `result_serializer`): strict-checked, handed to the
 * backend the app creates from its URL, overridden by that backend's own `serializer`.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildResultDocument, silentLogger } from '@celeriac/core';
import { MemoryResultBackend } from '@celeriac/result-backend';
import {
  expectInvalidOption as expectInvalid,
  rejectionOf,
  startRedisServer,
  thrownBy as errorOf,
  uniqueName,
  type RedisServerHandle,
} from '@celeriac/testing';
import { Celeriac, type CeleriacOptions } from './index.js';

let server: RedisServerHandle;
beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server?.stop();
});

/** The stored bytes, read with redis-cli (redis-server's package brings it; the client has no ioredis). */
function stored(key: string): Buffer {
  const out = spawnSync('redis-cli', ['-u', server.url, '--raw', 'GET', key]);
  if (out.status !== 0) throw new Error(`redis-cli failed: ${out.stderr.toString()}`);
  return out.stdout;
}

const isMsgpackMap = (b: number | undefined): boolean =>
  b !== undefined && ((b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf);

/** The first byte of what the app's backend stores for a SUCCESS. */
async function firstByteStored(options: CeleriacOptions): Promise<number | undefined> {
  const app = new Celeriac({ broker: server.url, logger: silentLogger, ...options });
  try {
    const id = uniqueName('task');
    const backend = await app.resultBackend();
    await backend.store(buildResultDocument({ taskId: id, status: 'SUCCESS', result: 1 }));
    expect((await backend.get(id))?.result).toBe(1);
    return stored(`celery-task-meta-${id}`)[0];
  } finally {
    await app.close();
  }
}

describe('Celeriac resultSerializer', () => {
  it('writes JSON by default and msgpack when asked', async () => {
    expect(await firstByteStored({})).toBe(0x7b);
    expect(await firstByteStored({ resultSerializer: 'json' })).toBe(0x7b);
    expect(await firstByteStored({ resultSerializer: 'msgpack' })).toSatisfy(isMsgpackMap);
  });

  it("the backend's own serializer wins over the app's", async () => {
    expect(
      await firstByteStored({
        resultSerializer: 'msgpack',
        backendOptions: { serializer: 'json' },
      }),
    ).toBe(0x7b);
    expect(await firstByteStored({ backendOptions: { serializer: 'msgpack' } })).toSatisfy(
      isMsgpackMap,
    );
  });

  it('refuses an unknown serializer, and one given beside a backend instance', async () => {
    expectInvalid(
      errorOf(() => new Celeriac({ resultSerializer: 'pickle' as 'json' })),
      'Celeriac',
      'resultSerializer',
    );
    const backend = new MemoryResultBackend();
    const err = errorOf(() => new Celeriac({ backend, resultSerializer: 'msgpack' }));
    expectInvalid(err, 'Celeriac', 'resultSerializer');
    expect(err.message).toMatch(/serializer/);
    await backend.close();
  });

  it('memory:// accepts either; sqlite:// refuses msgpack when the backend is created', async () => {
    const memory = new Celeriac({ broker: 'memory://rs', resultSerializer: 'msgpack' });
    await memory.resultBackend();
    await memory.close();
    const sqlite = new Celeriac({
      broker: 'memory://rs2',
      backend: 'sqlite://:memory:',
      resultSerializer: 'msgpack',
      logger: silentLogger,
    });
    const err = await rejectionOf(() => sqlite.resultBackend());
    expect(err.code).toBe('CELERIAC_ERR_INVALID_OPTION');
    expect(err.details['option']).toBe('resultSerializer');
    await sqlite.close();
  });
});
