/**
 * Celery's remote control from real Python Celery (Debian's python3-celery) against a Celeriac
 * worker on Redis and on RabbitMQ: `inspect ping|registered|active|stats`, `control.ping`,
 * `control.revoke` (with terminate), and the `celery inspect ping` command line.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Celeriac, type TaskContext } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import {
  PYTHON,
  PYTHON_DIR,
  rabbitMqForTests,
  requirePythonCelery,
  runPythonScript,
  startCeleryWorker,
  uniqueName,
  type CeleryWorkerHandle,
  type PythonEnv,
  type RabbitMqForTests,
} from '@celeriac/testing';
import { Worker } from '../index.js';

const redisUrl = inject('redisUrl');

let rabbit: RabbitMqForTests | undefined;
afterAll(async () => {
  await rabbit?.release();
});

describe.each(['redis', 'amqp'] as const)(
  'Celery remote control → Celeriac worker on %s',
  (transport) => {
    const queue = uniqueName('rc');
    const hostname = `${uniqueName('celeriac')}@test`;
    let env: PythonEnv;
    let brokerUrl: string;
    let app: Celeriac;
    let worker: Worker;
    const started = new Set<string>();
    const aborted = new Set<string>();

    beforeAll(async () => {
      requirePythonCelery();
      if (transport === 'amqp') rabbit ??= await rabbitMqForTests();
      brokerUrl = transport === 'amqp' ? rabbit!.url : redisUrl;
      // Python's app names a result backend it never uses here; Celery 5 has no amqp:// one.
      env = { brokerUrl, backendUrl: transport === 'amqp' ? 'rpc://' : redisUrl };
      app = new Celeriac({
        broker: brokerUrl,
        backend: transport === 'amqp' ? 'rpc://' : redisUrl,
        logger: silentLogger,
        defaultQueue: queue,
      });
      app.task('rc.add', (a: number, b: number) => a + b);
      app.task('rc.wait', async function (this: TaskContext, ms: number) {
        started.add(this.id);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, ms);
          this.signal.addEventListener('abort', () => {
            aborted.add(this.id);
            clearTimeout(timer);
            resolve();
          });
        });
        return 'finished';
      });
      worker = new Worker(app, { concurrency: 4, hostname });
      await worker.start();
    });

    afterAll(async () => {
      await worker?.shutdown({ timeout: 2 });
      await app?.close();
    });

    it('answers inspect ping and control.ping', async () => {
      const replies = await runPythonScript<Record<string, unknown>>(
        'interop_control.py',
        ['ping', hostname],
        env,
      );
      expect(replies).toEqual({ [hostname]: { ok: 'pong' } });
      // Without a destination every worker on this Redis answers; this one among them.
      const all = await runPythonScript<Record<string, unknown>[]>(
        'interop_control.py',
        ['control_ping'],
        env,
      );
      expect(all).toContainEqual({ [hostname]: { ok: 'pong' } });
    });

    it('lists its registered tasks and its stats', async () => {
      const registered = await runPythonScript<Record<string, string[]>>(
        'interop_control.py',
        ['registered', hostname],
        env,
      );
      expect(registered[hostname]).toEqual(expect.arrayContaining(['rc.add', 'rc.wait']));
      expect(await app.sendTask('rc.add', [1, 2]).get({ timeout: 10 })).toBe(3);
      const stats = await runPythonScript<
        Record<string, { total: Record<string, number>; pid: number }>
      >('interop_control.py', ['stats', hostname], env);
      expect(stats[hostname]?.pid).toBe(process.pid);
      expect(stats[hostname]?.total['rc.add']).toBeGreaterThanOrEqual(1);
    });

    it('shows a running task in inspect active, and revoke with terminate stops it', async () => {
      const r = app.sendTask<string>('rc.wait', [30_000]);
      await expect.poll(() => started.has(r.id), { timeout: 10_000 }).toBe(true);
      const active = await runPythonScript<
        Record<string, { id: string; name: string; args: unknown[] }[]>
      >('interop_control.py', ['active', hostname], env);
      expect(active[hostname]).toEqual([
        expect.objectContaining({ id: r.id, name: 'rc.wait', args: [30_000] }),
      ]);
      const revoked = await runPythonScript<Record<string, { ok: string }>[]>(
        'interop_control.py',
        ['revoke', r.id, 'terminate', hostname],
        env,
      );
      // Celery names the tasks it terminated (`terminate: <ids>`).
      expect(revoked).toEqual([{ [hostname]: { ok: `terminate: ${r.id}` } }]);
      await expect(r.get({ timeout: 10 })).rejects.toMatchObject({ type: 'TaskRevokedError' });
      expect(aborted.has(r.id)).toBe(true);
    });

    it('answers an unknown command with an error instead of crashing', async () => {
      const out = await runPythonScript<Record<string, unknown>>(
        'interop_control.py',
        ['raw:celeriac_no_such_command', hostname],
        env,
      );
      expect(out).toEqual({
        [hostname]: { error: 'No such control command: celeriac_no_such_command' },
      });
      expect(worker.state).toBe('running');
      expect(await app.sendTask('rc.add', [2, 2]).get({ timeout: 10 })).toBe(4);
    });

    it('is seen by the `celery inspect ping` command', async () => {
      // Asynchronously: this process's worker has to answer while the command waits. With -d the
      // command returns on the reply; -t only bounds a lost one.
      const { stdout } = await promisify(execFile)(
        PYTHON,
        ['-m', 'celery', '-A', 'interop_app', 'inspect', 'ping', '-d', hostname, '-t', '10'],
        {
          cwd: PYTHON_DIR,
          env: {
            ...process.env,
            BROKER_URL: env.brokerUrl,
            RESULT_BACKEND: env.backendUrl,
            PYTHONPATH: PYTHON_DIR,
            PYTHONDONTWRITEBYTECODE: '1',
          },
          encoding: 'utf8',
          timeout: 30_000,
        },
      );
      expect(stdout).toContain(`${hostname}: OK`);
      expect(stdout).toMatch(/pong/);
      expect(stdout).toMatch(/1 node online/);
    });

    /**
     * Celery logs "ready." before its remote-control consumer listens (on Redis it subscribes on
     * the next turn of its loop), and a broadcast sent in between is lost. So the Python worker
     * counts as ready once it answers a ping, retried until a deadline.
     */
    async function untilAnswersPing(
      py: CeleryWorkerHandle,
      name: string,
      deadlineMs = 30_000,
    ): Promise<void> {
      const deadline = Date.now() + deadlineMs;
      for (;;) {
        // With a destination the reply ends the wait; the timeout only bounds a lost broadcast.
        const replies = await app.control.inspect({ timeout: 1, destination: [name] }).ping();
        if (name in replies) return;
        if (Date.now() > deadline) {
          throw new Error(
            `the Python worker ${name} logged "ready." but answered no ping within ${deadlineMs} ms; its log:\n${py.output()}`,
          );
        }
      }
    }

    it('app.control.inspect() from Node sees this worker and a Python Celery worker', async () => {
      const pyName = `${uniqueName('py')}@test`;
      let py: CeleryWorkerHandle | undefined;
      try {
        py = await startCeleryWorker({ ...env, queues: [uniqueName('pyq')], name: pyName });
        await untilAnswersPing(py, pyName);
        // Destinations given: each call returns as soon as they all replied, so a long timeout
        // costs nothing and leaves room for a slow machine.
        const both = await app.control
          .inspect({ timeout: 10, destination: [hostname, pyName] })
          .ping();
        expect(both).toEqual({ [hostname]: { ok: 'pong' }, [pyName]: { ok: 'pong' } });
        const registered = await app.control
          .inspect({ timeout: 10, destination: [pyName] })
          .registered();
        expect(registered[pyName]).toEqual(expect.arrayContaining(['py.add']));
        // Without a destination: every worker on the broker within the timeout, these two among them.
        const all = await app.control.ping({ timeout: 3 });
        expect(Object.keys(all)).toEqual(expect.arrayContaining([hostname, pyName]));
        const stats = await app.control.inspect({ timeout: 10, destination: [hostname] }).stats();
        expect(stats[hostname]).toMatchObject({ pid: process.pid, sw_ident: 'celeriac' });
      } finally {
        await py?.stop();
      }
    }, 90_000);
  },
);
