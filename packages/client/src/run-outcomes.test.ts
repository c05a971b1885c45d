import { buildResultDocument, type ResultBackend, type TaskState } from '@celeriac/core';
import { exceptionToDocument } from '@celeriac/core/internal';
import { afterEach, describe, expect, it } from 'vitest';
import { Celeriac } from './app.js';
import { readTaskOutcomes, taskOutcome } from './run-outcomes.js';

const apps: Celeriac[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

describe('Celeriac.runOutcomes', () => {
  it('maps each stored state, in the order asked, with one read', async () => {
    const app = new Celeriac({ broker: `memory://outcomes-${Math.random()}` });
    apps.push(app);
    const backend = await app.resultBackend();
    const store = (taskId: string, status: TaskState, result: unknown, traceback?: string) =>
      backend.store(buildResultDocument({ taskId, status, result, traceback: traceback ?? null }));
    await store('ok', 'SUCCESS', { n: 42 });
    await store('bad', 'FAILURE', exceptionToDocument(new TypeError('no good')), 'Traceback: x');
    await store('revoked', 'REVOKED', exceptionToDocument(new Error('revoked')));
    for (const s of ['RECEIVED', 'STARTED', 'RETRY', 'PROGRESS'] as const) await store(s, s, null);
    const ids = ['ok', 'missing', 'bad', 'revoked', 'RECEIVED', 'STARTED', 'RETRY', 'PROGRESS'];
    expect(await app.runOutcomes(ids)).toEqual([
      { state: 'succeeded', result: { n: 42 } },
      { state: 'pending' },
      {
        state: 'failed',
        error: { type: 'TypeError', message: 'no good', traceback: 'Traceback: x' },
      },
      { state: 'gone' },
      { state: 'pending' },
      { state: 'pending' },
      { state: 'pending' },
      { state: 'pending' },
    ]);
    expect(await app.runOutcomes([])).toEqual([]);
  });

  it('throws CELERIAC_ERR_NO_RESULT_BACKEND when the app stores no results', async () => {
    const app = new Celeriac({ broker: 'memory://outcomes-none', backend: false });
    apps.push(app);
    await expect(app.runOutcomes(['x'])).rejects.toMatchObject({
      code: 'CELERIAC_ERR_NO_RESULT_BACKEND',
    });
  });

  it('throws CELERIAC_ERR_NO_RESULT_BACKEND when results go to the publishing client (rpc://)', async () => {
    // rpc:// delivers a result to the reply queue of the process that published the task: any
    // other process (another beat, or this one restarted) would see every run as pending.
    let read = false;
    const rpcLike = {
      kind: 'rpc',
      replyTo: 'celeriac.reply.abc',
      getMany: (ids: readonly string[]) => {
        read = true;
        return Promise.resolve(ids.map(() => null));
      },
    } as unknown as ResultBackend;
    await expect(
      readTaskOutcomes(true, () => Promise.resolve(rpcLike), ['x']),
    ).rejects.toMatchObject({ code: 'CELERIAC_ERR_NO_RESULT_BACKEND' });
    expect(read).toBe(false);
  });

  it('a FAILURE whose result is not an exception document still reads as failed', () => {
    expect(
      taskOutcome(buildResultDocument({ taskId: 'x', status: 'FAILURE', result: 'oops' })),
    ).toEqual({ state: 'failed', error: { type: 'Exception', message: '"oops"' } });
    expect(taskOutcome(null)).toEqual({ state: 'pending' });
  });
});
