// The ceiling row of `npm run bench:amqp`: bare amqplib, no task queue. One consumer with the
// same prefetch as Celeriac's worker (concurrency 50 × 4 = 200) acks each message on receipt; a
// message with a reply_to (W4, and every message of the "reply" variant) first gets a
// result-sized reply there, without a publisher confirm. No results are stored, nothing is
// decoded: what RabbitMQ and one Node process can move, for scale.
import amqp from 'amqplib';
import { failStartup, send, serve } from './lib/control.js';

try {
  const cfg = JSON.parse(process.env.BENCH_CONFIG ?? '{}');
  const conn = await amqp.connect(cfg.amqpUrl, { noDelay: true }); // as Celeriac's connections
  const ch = await conn.createChannel();
  await ch.assertQueue(cfg.queue, { durable: true });
  let processed = 0;
  /** @type {{ base: number, target: number, t0: number } | undefined} */
  let watch;
  const done = () => {
    processed++;
    if (watch && processed - watch.base >= watch.target) {
      send({
        type: 'reached',
        done: processed - watch.base,
        seconds: (performance.now() - watch.t0) / 1000,
      });
      watch = undefined;
    }
  };
  const stop = async () => {
    await conn.close().catch(() => undefined);
  };
  serve(
    {
      start: async () => {
        await ch.prefetch(cfg.concurrency * 4, false);
        await ch.consume(cfg.queue, (msg) => {
          if (!msg) return;
          const replyTo = msg.properties.replyTo;
          if (replyTo) {
            const id = msg.properties.correlationId;
            // A result document's size, as Celeriac's worker sends to reply_to.
            const doc = `{"task_id":"${id}","status":"SUCCESS","result":null,"traceback":null,"children":[],"date_done":"${new Date().toISOString()}"}`;
            ch.publish('', replyTo, Buffer.from(doc), {
              correlationId: id,
              contentType: 'application/json',
              contentEncoding: 'utf-8',
              expiration: '86400000',
            });
          }
          ch.ack(msg);
          done();
        });
        return { type: 'started' };
      },
      watch: ({ target }) => {
        watch = { base: processed, target, t0: performance.now() };
        return { type: 'watching' };
      },
      stop: async () => {
        await stop();
        send({ type: 'stopped' });
        setTimeout(() => process.exit(0), 50);
      },
    },
    stop,
  );
  send({ type: 'ready', pid: process.pid });
} catch (err) {
  failStartup(err);
}
