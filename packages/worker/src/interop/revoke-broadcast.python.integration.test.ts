/**
 * `app.control.revoke()` from Node reaches Python Celery workers, on Redis and RabbitMQ: it is
 * broadcast as Celery's `revoke` control command besides going to Celeriac's coordination
 * store. A task a Python client sent with a countdown, waiting in a Python worker's ETA
 * schedule, is revoked from Node: the Python worker never runs it and the Python client reads
 * REVOKED.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Celeriac } from '@celeriac/client';
import { broadcastCommand } from '@celeriac/client/internal';
import { silentLogger } from '@celeriac/core';
import {
  rabbitMqForTests,
  requirePythonCelery,
  runPythonScript,
  startCeleryWorker,
  uniqueName,
  type CeleryWorkerHandle,
  type PythonEnv,
  type RabbitMqForTests,
} from '@celeriac/testing';

const redisUrl = inject('redisUrl');

let rabbit: RabbitMqForTests | undefined;
afterAll(async () => {
  await rabbit?.release();
});

describe.each(['redis', 'amqp'] as const)('revoke from Node → Python worker on %s', (transport) => {
  const pyQueue = uniqueName('py-revoke');
  const pyName = `${uniqueName('py-revoke')}@test`;
  let env: PythonEnv;
  let app: Celeriac;
  let py: CeleryWorkerHandle;

  beforeAll(async () => {
    requirePythonCelery();
    if (transport === 'amqp') rabbit ??= await rabbitMqForTests();
    const brokerUrl = transport === 'amqp' ? rabbit!.url : redisUrl;
    env = { brokerUrl, backendUrl: transport === 'amqp' ? 'rpc://' : redisUrl };
    app = new Celeriac({ broker: brokerUrl, backend: false, logger: silentLogger });
    py = await startCeleryWorker({ ...env, queues: [pyQueue], name: pyName });
    // Celery logs "ready." before its pidbox consumer listens: ask until it answers.
    const deadline = Date.now() + 30_000;
    let replies: Record<string, unknown> = {};
    while (!(pyName in replies) && Date.now() < deadline) {
      replies = await app.control.inspect({ timeout: 1, destination: [pyName] }).ping();
    }
    expect(replies, py.output()).toEqual({ [pyName]: { ok: 'pong' } });
  }, 90_000);

  afterAll(async () => {
    await py?.stop();
    await app?.close();
  });

  /** The ids the Python worker holds for their ETA (`celery inspect scheduled`). */
  async function scheduled(): Promise<string[]> {
    const replies = await broadcastCommand(
      await app.broker(),
      'scheduled',
      {},
      {
        timeout: 10,
        destination: [pyName],
      },
    );
    const entries = (replies[pyName] ?? []) as { request?: { id?: string } }[];
    return entries.map((e) => e.request?.id ?? '');
  }

  it('a countdown task held by the Python worker is never run, and Python reads REVOKED', async () => {
    const id = randomUUID();
    const outcome = runPythonScript<{ state: string; error_type?: string; result?: unknown }>(
      'interop_client.py',
      ['py.add', '[1, 2]', '--queue', pyQueue, '--countdown', '6', '--task-id', id],
      env,
    );
    await expect.poll(scheduled, { timeout: 15_000, interval: 100 }).toContain(id);
    await app.control.revoke(id);
    const revoked = await broadcastCommand(
      await app.broker(),
      'revoked',
      {},
      {
        timeout: 10,
        destination: [pyName],
      },
    );
    expect(revoked[pyName]).toContain(id);
    expect(await outcome).toMatchObject({ state: 'REVOKED', error_type: 'TaskRevokedError' });
    expect(py.output()).not.toMatch(new RegExp(`Task py\\.add\\[${id}\\] succeeded`));
  }, 60_000);
});
