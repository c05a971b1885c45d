// The publisher of the raw amqplib ceiling row (see raw-worker.js): a confirm channel, the same
// batching as Celeriac's publisher (1,000 publishes in flight, each resolved by its confirm), a
// Celery-sized JSON body, persistent messages.
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { failStartup, send, serve } from './lib/control.js';

try {
  const cfg = JSON.parse(process.env.BENCH_CONFIG ?? '{}');
  const conn = await amqp.connect(cfg.amqpUrl, { noDelay: true }); // as Celeriac's connections
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue(cfg.queue, { durable: true });
  const body = Buffer.from(
    JSON.stringify([[], {}, { callbacks: null, errbacks: null, chain: null, chord: null }]),
  );
  const props = { contentType: 'application/json', contentEncoding: 'utf-8', persistent: true };
  // The "reply" variant sends what Celeriac sends: Celery's protocol-v2 headers and a reply_to,
  // to which the raw worker answers with a result-sized message (no confirm, nothing decoded).
  const reply = cfg.variant === 'reply';
  const celeryHeaders = (id) => ({
    lang: 'js',
    task: 'bench.noop',
    id,
    shadow: null,
    eta: null,
    expires: null,
    group: null,
    group_index: null,
    retries: 0,
    timelimit: [null, null],
    root_id: id,
    parent_id: null,
    argsrepr: '()',
    kwargsrepr: '{}',
    origin: `gen${process.pid}@bench`,
    ignore_result: false,
  });
  const publishOne = (extra) =>
    new Promise((resolve, reject) => {
      const id = randomUUID();
      const shape = reply
        ? { headers: celeryHeaders(id), correlationId: id, replyTo: replyQueue, priority: 0 }
        : { messageId: id };
      ch.publish('', cfg.queue, body, { ...props, ...shape, ...extra }, (err) =>
        err ? reject(err) : resolve(),
      );
    });

  // W4: an exclusive reply queue, read without acks.
  const replies = new Map();
  const { queue: replyQueue } = await ch.assertQueue('', { exclusive: true, autoDelete: true });
  await ch.consume(
    replyQueue,
    (msg) => {
      if (msg) replies.get(msg.properties.correlationId)?.();
    },
    { noAck: true },
  );
  const roundTrip = (timeoutMs) =>
    new Promise((resolve, reject) => {
      const id = randomUUID();
      const timer = setTimeout(() => reject(new Error('no reply')), timeoutMs);
      replies.set(id, () => {
        clearTimeout(timer);
        replies.delete(id);
        resolve();
      });
      publishOne({ correlationId: id, replyTo: replyQueue }).catch(reject);
    });

  let published = 0;
  serve(
    {
      publish: async ({ n, batch }) => {
        const t0 = performance.now();
        for (let sent = 0; sent < n; sent += batch) {
          const size = Math.min(batch, n - sent);
          await Promise.all(Array.from({ length: size }, () => publishOne()));
        }
        published += n;
        return { type: 'published', seconds: (performance.now() - t0) / 1000 };
      },
      publishSequential: async ({ n }) => {
        const t0 = performance.now();
        for (let i = 0; i < n; i++) await publishOne();
        return { type: 'published', seconds: (performance.now() - t0) / 1000 };
      },
      discard: () => {
        published = 0;
        return { type: 'discarded' };
      },
      roundTrips: async ({ n, warmup, timeoutMs }) => {
        for (let i = 0; i < warmup; i++) await roundTrip(timeoutMs);
        const lat = [];
        for (let i = 0; i < n; i++) {
          const t = performance.now();
          await roundTrip(timeoutMs);
          lat.push(performance.now() - t);
        }
        return { type: 'roundTrips', latenciesMs: lat };
      },
      resultIds: () => ({ type: 'resultIds', ids: [] }), // no results stored
      // Nothing stored: the worker counted n acks, which is all there is to check.
      verify: ({ n }) => {
        const ok = published === n;
        const detail = `published=${published} (no results: acked by the consumer)`;
        published = 0;
        return { type: 'verified', ok, detail };
      },
      close: async () => {
        await conn.close().catch(() => undefined);
        send({ type: 'closed' });
        setTimeout(() => process.exit(0), 50);
      },
    },
    () => conn.close().catch(() => undefined),
  );
  send({ type: 'ready', pid: process.pid });
} catch (err) {
  failStartup(err);
}
