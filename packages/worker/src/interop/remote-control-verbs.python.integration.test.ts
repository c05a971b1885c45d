/**
 * Every `celery inspect` and `celery control` verb, run through Python Celery's own command
 * line (Debian's python3-celery, its click commands run in one Python process by
 * interop_cli.py), against a Celeriac worker on Redis and on RabbitMQ, with requests and
 * replies in JSON and in msgpack. Replies are read from `--json` output and their content
 * checked; the changes the control verbs make are checked on the worker (a queue added is
 * consumed, the pool grows, a rate limit slows starts, a time limit ends a run, shutdown
 * stops the worker).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Celeriac, type TaskContext } from '@celeriac/client';
import { silentLogger } from '@celeriac/core';
import {
  rabbitMqForTests,
  requirePythonCelery,
  runPythonScript,
  uniqueName,
  type PythonEnv,
  type RabbitMqForTests,
} from '@celeriac/testing';
import { Worker } from '../index.js';

const redisUrl = inject('redisUrl');

let rabbit: RabbitMqForTests | undefined;
afterAll(async () => {
  await rabbit?.release();
});

interface CliResult {
  args: string[];
  exit: number;
  out: string;
  err: string;
}

const CONFIGS = [
  ['redis', 'json'],
  ['redis', 'msgpack'],
  ['amqp', 'json'],
  ['amqp', 'msgpack'],
] as const;

describe.each(CONFIGS)('celery inspect/control → Celeriac worker on %s in %s', (transport, ser) => {
  const queue = uniqueName('rcv');
  const extraQueue = uniqueName('rcv-added');
  const hostname = `${uniqueName('celeriac')}@test`;
  const t = uniqueName('rcv').replace(/-/g, '_'); // task names of this config (rate slots are per name)
  let env: PythonEnv;
  let app: Celeriac;
  let worker: Worker;
  const started = new Map<string, number>();
  const release = new Map<string, () => void>();

  beforeAll(async () => {
    requirePythonCelery();
    if (transport === 'amqp') rabbit ??= await rabbitMqForTests();
    const brokerUrl = transport === 'amqp' ? rabbit!.url : redisUrl;
    const backendUrl = transport === 'amqp' ? 'rpc://' : redisUrl;
    env = { brokerUrl, backendUrl, serializer: ser };
    app = new Celeriac({
      broker: brokerUrl,
      backend: backendUrl,
      logger: silentLogger,
      defaultQueue: queue,
      taskSerializer: ser,
      delayedDelivery: 'consumer', // countdown tasks go to the queue with their eta, as Celery's
    });
    app.task(`${t}.eta`, (n: number) => n);
    app.task(`${t}.add`, function (this: TaskContext, a: number, b: number) {
      started.set(this.id, Date.now());
      return a + b;
    });
    app.task(`${t}.block`, async function (this: TaskContext) {
      started.set(this.id, Date.now());
      await new Promise<void>((resolve) => {
        release.set(this.id, resolve);
        this.signal.addEventListener('abort', () => resolve());
      });
      return 'released';
    });
    // Deaf to its signal: only the hard time limit ends it early.
    app.task(`${t}.sleepy`, async (ms: number) => {
      await new Promise((resolve) => setTimeout(resolve, ms));
      return 'slept';
    });
    worker = new Worker(app, { concurrency: 1, hostname });
    await worker.start();
  });

  afterAll(async () => {
    for (const r of release.values()) r();
    await worker?.shutdown({ timeout: 2 });
    await app?.close();
  });

  /** Runs the command lines in one Python process; each is `celery -A interop_app <line>`. */
  async function celery(steps: (string[] | Record<string, unknown>)[]): Promise<CliResult[]> {
    return runPythonScript<CliResult[]>('interop_cli.py', [JSON.stringify(steps)], env, 120_000);
  }
  const to = ['-d', hostname, '-t', '10'];
  const json = (line: string[]): string[] => [...line, ...to, '--json'];
  /**
   * This worker's reply in a `--json` result: `inspect` prints one object by worker name,
   * `control` a list of them (Celery's `broadcast()` returns a list).
   */
  function reply<T = unknown>(r: CliResult | undefined): T {
    expect(r, 'a result').toBeDefined();
    expect(r!.exit, `${r!.args.join(' ')}: ${r!.err}`).toBe(0);
    const parsed = JSON.parse(r!.out) as Record<string, T> | Record<string, T>[];
    const replies = Array.isArray(parsed)
      ? (Object.assign({}, ...parsed) as Record<string, T>)
      : parsed;
    expect(Object.keys(replies)).toEqual([hostname]);
    return replies[hostname]!;
  }

  it('answers every inspect verb and the control verbs, with their effects', async () => {
    // One task runs (concurrency 1) and two wait behind it: reserved.
    const blocker = app.sendTask<string>(`${t}.block`, []);
    await expect.poll(() => started.has(blocker.id), { timeout: 10_000 }).toBe(true);
    const waiting = [
      app.sendTask<number>(`${t}.add`, [1, 2]),
      app.sendTask<number>(`${t}.add`, [3, 4]),
    ];
    await expect
      .poll(
        async () =>
          (await app.control.inspect({ timeout: 5, destination: [hostname] }).reserved())[hostname]
            ?.length,
        { timeout: 10_000 },
      )
      .toBe(2);
    const [w1, w2] = waiting.map((r) => r.id);
    const out = await celery([
      ['status', ...to],
      ['inspect', 'ping', ...to],
      json(['inspect', 'ping']),
      json(['inspect', 'active']),
      json(['inspect', 'reserved']),
      json(['inspect', 'query_task', blocker.id, w1!, w2!, 'no-such-id']),
      json(['control', 'revoke', 'rcv-revoked-id']),
      json(['inspect', 'revoked']),
      json(['inspect', 'registered']),
      json(['inspect', 'active_queues']),
      json(['inspect', 'conf']),
      json(['inspect', 'report']),
      json(['inspect', 'clock']),
      json(['inspect', 'memsample']),
      json(['inspect', 'stats']),
      json(['control', 'heartbeat']),
      json(['control', 'rate_limit', `${t}.add`, '1/s']),
      json(['control', 'rate_limit', 'no.such.task', '1/s']),
      json(['inspect', 'registered']),
      json(['control', 'time_limit', `${t}.sleepy`, '0.2', '0.4']),
      json(['control', 'pool_grow', '2']),
      json(['inspect', 'stats']),
      json(['control', 'pool_shrink', '2']),
      json(['control', 'autoscale', '2', '1']),
      json(['inspect', 'stats']),
      json(['control', 'add_consumer', extraQueue]),
      ['inspect', 'stats', ...to],
      ['inspect', 'reserved', ...to],
      ['control', 'pool_grow', '1', ...to],
    ]);
    let i = 0;
    const next = (): CliResult | undefined => out[i++];
    const status = next()!;
    expect(status.exit, status.err).toBe(0);
    expect(status.out).toContain(`${hostname}: OK`);
    expect(status.out).toMatch(/1 node online/);
    const ping = next()!;
    expect(ping.out).toContain(`${hostname}: OK`);
    expect(ping.out).toContain('pong');
    expect(reply(next())).toEqual({ ok: 'pong' });
    expect(reply(next())).toEqual([
      expect.objectContaining({ id: blocker.id, name: `${t}.block` }),
    ]);
    const reserved = reply<{ id: string; time_start: null; worker_pid: null }[]>(next());
    expect(reserved.map((r) => r.id).sort()).toEqual([w1, w2].sort());
    expect(reserved[0]).toMatchObject({ time_start: null, acknowledged: false, worker_pid: null });
    expect(reply(next())).toEqual({
      [blocker.id]: ['active', expect.objectContaining({ id: blocker.id })],
      [w1!]: ['reserved', expect.objectContaining({ id: w1, args: [1, 2] })],
      [w2!]: ['reserved', expect.objectContaining({ id: w2, args: [3, 4] })],
    });
    expect(reply(next())).toEqual({ ok: 'tasks rcv-revoked-id flagged as revoked' });
    expect(reply(next())).toContain('rcv-revoked-id');
    expect(reply(next())).toEqual([`${t}.add`, `${t}.block`, `${t}.eta`, `${t}.sleepy`]);
    const queues = reply<{ name: string; exchange: { name: string; type: string } }[]>(next());
    expect(queues).toEqual([
      expect.objectContaining({
        name: queue,
        routing_key: queue,
        exchange: expect.objectContaining({ name: queue, type: 'direct' }) as unknown,
      }),
    ]);
    expect(reply(next())).toMatchObject({
      task_default_queue: queue,
      task_serializer: ser,
      worker_concurrency: 1,
    });
    expect(reply<{ ok: string }>(next()).ok).toMatch(/software -> celeriac/);
    expect(reply<{ clock: number }>(next()).clock).toBeGreaterThan(0);
    expect(reply(next())).toMatch(/^\d+(\.\d+)?[KMG]B$/);
    const stats = reply<Record<string, Record<string, unknown>>>(next());
    expect(stats).toMatchObject({
      pid: process.pid,
      pool: { 'max-concurrency': 1, 'max-tasks-per-child': 'N/A', timeouts: [0, 0] },
      broker: { transport: transport, hostname: expect.any(String) as unknown },
      prefetch_count: 4,
      rusage: { utime: expect.any(Number) as unknown, maxrss: expect.any(Number) as unknown },
    });
    expect(stats['total']).toMatchObject({ [`${t}.block`]: 1 });
    expect(reply(next())).toBeNull(); // heartbeat: Celery answers None
    expect(reply(next())).toEqual({ ok: 'new rate limit set successfully' });
    expect(reply(next())).toEqual({ error: 'unknown task' });
    expect(reply(next())).toContain(`${t}.add [rate_limit=1/s]`);
    expect(reply(next())).toEqual({ ok: 'time limits set successfully' });
    expect(reply(next())).toEqual({ ok: 'pool will grow' });
    expect(reply(next())).toMatchObject({ pool: { 'max-concurrency': 3 }, prefetch_count: 12 });
    expect(reply(next())).toEqual({ ok: 'pool will shrink' });
    expect(reply(next())).toEqual({ ok: 'autoscale now max=2 min=1' });
    expect(reply(next())).toMatchObject({
      pool: { 'max-concurrency': 2 },
      autoscaler: { max: 2, min: 1 },
    });
    expect(reply(next())).toEqual({ ok: `add consumer ${extraQueue}` });
    // Without --json: Celery's own printing of the replies.
    for (const r of out.slice(i)) {
      expect(r.exit, r.err).toBe(0);
      expect(r.out).toContain(`${hostname}: OK`);
      expect(r.out).not.toMatch(/ERROR|Traceback/);
    }
    // The effects. The two waiting tasks ran once the pool grew.
    expect(await Promise.all(waiting.map((r) => r.get({ timeout: 10 })))).toEqual([3, 7]);
    await expect.poll(async () => worker.queues, { timeout: 10_000 }).toEqual([queue, extraQueue]);
    expect(
      await app.sendTask(`${t}.add`, [2, 2], {}, { queue: extraQueue }).get({ timeout: 10 }),
    ).toBe(4);
    await expect(app.sendTask(`${t}.sleepy`, [3_000]).get({ timeout: 10 })).rejects.toMatchObject({
      type: 'TimeLimitExceeded',
    });
    // Rate limit 1/s: two more starts are a second apart.
    const limited = [app.sendTask(`${t}.add`, [0, 1]), app.sendTask(`${t}.add`, [0, 2])];
    await Promise.all(limited.map((r) => r.get({ timeout: 10 })));
    const [s1, s2] = limited.map((r) => started.get(r.id)!);
    expect(Math.abs(s2! - s1!)).toBeGreaterThanOrEqual(900);

    // scheduled: a worker holds in memory only ETAs due within a second, so tasks due in 0.9 s
    // are sent (to the queue, as Celery sends ETA tasks) while the command asks until one shows.
    const eta = setInterval(() => void app.sendTask(`${t}.eta`, [5], {}, { countdown: 0.9 }), 150);
    let held: CliResult[];
    try {
      held = await celery([{ until_listed: json(['inspect', 'scheduled']), seconds: 30 }]);
    } finally {
      clearInterval(eta);
    }
    const scheduled = reply<{ eta: string; priority: number; request: Record<string, unknown> }[]>(
      held[0],
    );
    expect(scheduled[0]).toMatchObject({
      priority: expect.any(Number) as unknown,
      request: { name: `${t}.eta`, args: [5] },
    });
    expect(Date.parse(scheduled[0]!.eta)).toBeGreaterThan(Date.now() - 60_000);

    // terminate, cancel_consumer, and shutdown last.
    const end = await celery([
      json(['control', 'terminate', 'SIGKILL', blocker.id]),
      json(['control', 'cancel_consumer', extraQueue]),
      json(['inspect', 'active_queues']),
      json(['control', 'shutdown']),
    ]);
    expect(reply(end[0])).toEqual({ ok: `terminate: ${blocker.id}` });
    await expect(blocker.get({ timeout: 10 })).rejects.toMatchObject({ type: 'TaskRevokedError' });
    expect(reply(end[1])).toEqual({ ok: `no longer consuming from ${extraQueue}` });
    expect(reply<{ name: string }[]>(end[2]).map((q) => q.name)).toEqual([queue]);
    expect(reply(end[3])).toEqual({ ok: 'shutting down' });
    await worker.whenStopped();
    expect(worker.state).toBe('stopped');
  }, 120_000);
});
