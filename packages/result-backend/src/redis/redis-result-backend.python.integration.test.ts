import { buildResultDocument, type ResultDocument } from '@celeriac/core';
import {
  PYTHON,
  requirePythonCelery,
  startRedisServer,
  uniqueName,
  type RedisServerHandle,
} from '@celeriac/testing';
import { Redis } from 'ioredis';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisResultBackend } from './index.js';

/**
 * Interop with Python Celery's own `RedisBackend` (Debian's python3-celery + python3-redis):
 * each side reads, and is woken by, what the other stores.
 */
const PY = String.raw`
import json, sys
from celery import Celery

url, mode, task_id = sys.argv[1:4]
app = Celery('interop', broker='memory://', backend=url)
app.conf.update(result_serializer='json', accept_content=['json'], result_accept_content=['json'])

def describe(r):
    info = r.result
    if isinstance(info, BaseException):
        info = {'exc_type': type(info).__name__, 'args': list(info.args)}
    done = r.date_done
    return {'state': r.state, 'result': info, 'date_done': done.isoformat() if done else None}

if mode == 'get':
    r = app.AsyncResult(task_id)
    r.get(timeout=float(sys.argv[4]), propagate=False)
    out = describe(r)
elif mode == 'meta':
    out = describe(app.AsyncResult(task_id))
elif mode == 'store':
    app.backend.store_result(task_id, json.loads(sys.argv[5]), sys.argv[4])
    out = {'ok': True}
elif mode == 'fail':
    try:
        raise KeyError('missing')
    except KeyError as exc:
        app.backend.mark_as_failure(task_id, exc, traceback='Traceback (most recent call last):\nKeyError: missing\n')
    out = {'ok': True}
print(json.dumps(out))
`;

async function python<T = Record<string, unknown>>(args: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-c', PY, url, ...args], {
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as T);
      } catch {
        reject(new Error(`python exited ${String(code)}; stdout: ${out}; stderr: ${err}`));
      }
    });
  });
}

let server: RedisServerHandle | undefined;
let url: string;
let raw: Redis;
let backend: RedisResultBackend;

describe('RedisResultBackend ⇄ Python Celery RedisBackend', () => {
  beforeAll(async () => {
    // Fails (not skips) without Python Celery, with the apt-get line to fix it.
    requirePythonCelery();
    const fromEnv = process.env['REDIS_URL'];
    if (fromEnv) {
      url = fromEnv;
    } else {
      server = await startRedisServer();
      url = server.url;
    }
    raw = new Redis(url);
    backend = new RedisResultBackend({ url });
  });

  afterAll(async () => {
    // Optional chaining: when beforeAll failed (no Python), only its error should be reported.
    await backend?.close();
    raw?.disconnect();
    await server?.stop();
  });

  async function pythonSubscribed(id: string): Promise<void> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const [, n] = (await raw.pubsub('NUMSUB', `celery-task-meta-${id}`)) as [string, number];
      if (Number(n) > 0) return;
      if (Date.now() > deadline) throw new Error('Python never subscribed');
      await sleep(25);
    }
  }

  it('Python AsyncResult.get() is woken by a result Celeriac stores (pub/sub)', async () => {
    const id = uniqueName('task');
    const reading = python<{ state: string; result: unknown; date_done: string }>([
      'get',
      id,
      '20',
    ]);
    await pythonSubscribed(id);
    await backend.store(buildResultDocument({ taskId: id, status: 'STARTED' }));
    await backend.store(
      buildResultDocument({
        taskId: id,
        status: 'SUCCESS',
        result: { sum: 5, items: [1, 'two', null] },
        dateDone: new Date('2026-03-04T05:06:07.890Z'),
      }),
    );
    const seen = await reading;
    expect(seen.state).toBe('SUCCESS');
    expect(seen.result).toEqual({ sum: 5, items: [1, 'two', null] });
    expect(seen.date_done).toMatch(/^2026-03-04T05:06:07\.890000/);
  });

  it('Python reads a FAILURE Celeriac stored as the exception it describes', async () => {
    const id = uniqueName('task');
    await backend.store(
      buildResultDocument({
        taskId: id,
        status: 'FAILURE',
        result: { exc_type: 'ValueError', exc_message: ['bad input'], exc_module: 'builtins' },
        traceback: 'Traceback (most recent call last):\nValueError: bad input\n',
        dateDone: new Date(),
      }),
    );
    const seen = await python<{ state: string; result: { exc_type: string; args: unknown[] } }>([
      'meta',
      id,
    ]);
    expect(seen.state).toBe('FAILURE');
    expect(seen.result).toEqual({ exc_type: 'ValueError', args: ['bad input'] });
  });

  it('Celeriac waitFor is woken by Python storing SUCCESS, not by its STARTED', async () => {
    const id = uniqueName('task');
    let settled = false;
    const waiting = backend.waitFor(id, { timeoutMs: 20_000 }).finally(() => (settled = true));
    await python(['store', id, 'STARTED', '{"pid": 1}']);
    await sleep(100);
    expect(settled).toBe(false);
    await python(['store', id, 'SUCCESS', '{"answer": 42, "list": [1, 2]}']);
    const got: ResultDocument = await waiting;
    expect(got).toMatchObject({
      status: 'SUCCESS',
      result: { answer: 42, list: [1, 2] },
      traceback: null,
      children: [],
      task_id: id,
    });
    expect(typeof got.date_done).toBe('string');
  });

  it('Celeriac reads a FAILURE Python stored', async () => {
    const id = uniqueName('task');
    await python(['fail', id]);
    const got = await backend.get(id);
    expect(got?.status).toBe('FAILURE');
    expect(got?.result).toMatchObject({
      exc_type: 'KeyError',
      exc_message: ['missing'],
      exc_module: 'builtins',
    });
    expect(got?.traceback).toContain('KeyError');
  });

  it('neither side overwrites the other side’s SUCCESS', async () => {
    const fromPython = uniqueName('task');
    await python(['store', fromPython, 'SUCCESS', '"python"']);
    await backend.store(
      buildResultDocument({ taskId: fromPython, status: 'FAILURE', dateDone: new Date() }),
    );
    expect((await backend.get(fromPython))?.result).toBe('python');

    const fromNode = uniqueName('task');
    await backend.store(
      buildResultDocument({
        taskId: fromNode,
        status: 'SUCCESS',
        result: 'node',
        dateDone: new Date(),
      }),
    );
    await python(['store', fromNode, 'RETRY', 'null']);
    expect((await backend.get(fromNode))?.result).toBe('node');
  });
});
