import type { BrokerMessage, ControlChannel, ControlListener, ExchangeRoute } from '@celeriac/core';
import { Command, type Redis } from 'ioredis';
import type { BrokerContext } from './context.js';
import { openRedisClient } from './internal/index.js';
import { buildEnvelope, parseEnvelope, textEnvelopeJson } from './envelope.js';
import { bindingMember, bindingSetKey, parseBindingMember } from './keys.js';

/** From this many characters on, a broadcast envelope is published at once (see broadcast). */
const DIRECT_PUBLISH_CHARS = 4096;

/**
 * PUBLISH written to the connection now, not held for ioredis auto-pipelining; once written,
 * the command lets go of its payload. ioredis keeps a command, arguments and all, until its
 * reply: a tick's 50–100 KB of task events then lived through the scavenges that came before
 * the reply and were promoted (on a 20,000-task drain with events, 1.2 MB survived each
 * scavenge instead of 0.5 MB, and the old generation filled enough for a full GC). The cost:
 * a publish cut off by a reconnection is resent by ioredis without its payload and fails,
 * where it would have been resent whole; events are best effort, and the failure is logged.
 */
function publishDirect(client: Redis, channel: string, payload: string): Promise<unknown> {
  const command = new Command('publish', [channel, payload], { replyEncoding: 'utf8' });
  const writable = client.status === 'ready' && client.stream?.writable === true;
  void client.sendCommand(command);
  if (writable) command.args = [];
  return command.promise;
}

/**
 * kombu's fanout and direct exchanges on Redis, as Celery's remote control uses them:
 * - a fanout exchange is a pub/sub channel, `/<db>.<exchange>` (kombu's `keyprefix_fanout`
 *   with `fanout_prefix`, the default since Celery 4), each message a kombu envelope; with a
 *   routing key, `/<db>.<exchange>/<routing key>` (kombu's `fanout_patterns`, as Celery's
 *   events use it), heard through a pattern subscription where the binding key has `#`;
 * - a direct exchange is its binding set `_kombu.binding.<exchange>`: a message goes to each
 *   queue bound with its routing key, pushed as a kombu envelope (priority 0, the plain list).
 */
export class RedisControlChannel implements ControlChannel {
  readonly #ctx: BrokerContext;
  readonly #listeners = new Set<Redis>();

  constructor(ctx: BrokerContext) {
    this.#ctx = ctx;
  }

  async listen(
    exchange: string,
    onMessage: (message: BrokerMessage) => void,
    options: ExchangeRoute = {},
  ): Promise<ControlListener> {
    const channel = this.#topic(exchange, options.routingKey?.replace(/#/g, '*'));
    const pattern = channel.includes('*');
    // A connection of its own: a subscribed connection takes no other commands. ioredis
    // subscribes it again by itself after a reconnection.
    const sub = openRedisClient(this.#ctx.client, {
      connectionName: 'celeriac-control',
      autoPipelining: false,
      overrides: { maxRetriesPerRequest: null, enableOfflineQueue: true },
    });
    sub.on('error', (err: Error) =>
      this.#ctx.options.logger.debug(
        { err },
        'the remote-control subscriber connection failed; reconnecting',
      ),
    );
    const deliver = (raw: string): void => {
      let message: BrokerMessage;
      try {
        message = parseEnvelope(raw).message;
      } catch (err) {
        this.#ctx.options.logger.warn(
          { err, channel },
          'ignoring a remote-control message that is not a kombu envelope',
        );
        return;
      }
      onMessage(message);
    };
    if (pattern) {
      sub.on('pmessage', (from: string, _channel: string, raw: string) => {
        if (from === channel) deliver(raw);
      });
    } else {
      sub.on('message', (from: string, raw: string) => {
        if (from === channel) deliver(raw);
      });
    }
    this.#listeners.add(sub);
    try {
      await this.#ctx.run('control.listen', async () => {
        await (pattern ? sub.psubscribe(channel) : sub.subscribe(channel));
      });
    } catch (err) {
      this.#listeners.delete(sub);
      sub.disconnect();
      throw err;
    }
    return {
      close: async () => {
        if (!this.#listeners.delete(sub)) return;
        await sub.quit().catch(() => sub.disconnect());
      },
    };
  }

  async send(exchange: string, routingKey: string, message: BrokerMessage): Promise<number> {
    const client = this.#ctx.client;
    return this.#ctx.run('control.send', async () => {
      const members = await client.smembers(bindingSetKey(exchange));
      const queues = new Set<string>();
      for (const m of members) {
        const b = parseBindingMember(m);
        if (b && b.routingKey === routingKey) queues.add(b.queue);
      }
      if (queues.size === 0) return 0;
      if (this.#ctx.layout.cluster) {
        // The queues' keys may be in different slots, which one pipeline cannot span.
        await Promise.all([...queues].map((q) => client.lpush(q, buildEnvelope(q, message).json)));
        return queues.size;
      }
      const pipeline = client.pipeline();
      for (const q of queues) pipeline.lpush(q, buildEnvelope(q, message).json);
      const replies = (await pipeline.exec()) ?? [];
      const failed = replies.find(([err]) => err);
      if (failed?.[0]) throw failed[0];
      return queues.size;
    });
  }

  async broadcast(
    exchange: string,
    message: BrokerMessage,
    options: ExchangeRoute = {},
  ): Promise<void> {
    const client = this.#ctx.client;
    const channel = this.#topic(exchange, options.routingKey);
    const envelope = buildEnvelope(exchange, message).json;
    // A large envelope (a tick's list of task events, 50–100 KB on a busy worker) is written at
    // once: auto-pipelining would hold it to the next turn and copy the whole command again
    // into a pipeline. As a string, not a Buffer: a Buffer of that size is memory outside the
    // heap, which V8 counts towards its next full GC (two per 20,000-task drain with events).
    const direct = envelope.length >= DIRECT_PUBLISH_CHARS;
    await this.#ctx.run('control.broadcast', async () => {
      if (direct) await publishDirect(client, channel, envelope);
      else await client.publish(channel, envelope);
    });
  }

  async broadcastText(
    exchange: string,
    text: string,
    message: Omit<BrokerMessage, 'body'>,
    options: ExchangeRoute = {},
  ): Promise<void> {
    const client = this.#ctx.client;
    const channel = this.#topic(exchange, options.routingKey);
    const envelope = textEnvelopeJson(exchange, text, message);
    await this.#ctx.run('control.broadcast', async () => {
      await client.publish(channel, envelope);
    });
  }

  async openReplies(
    exchange: string,
    routingKey: string,
    onMessage: (message: BrokerMessage) => void,
  ): Promise<ControlListener> {
    const client = this.#ctx.client;
    // kombu's reply queue for a pidbox client: `<oid>.<exchange>`, bound with the oid.
    const queue = `${routingKey}.${exchange}`;
    const member = bindingMember(routingKey, queue);
    await this.#ctx.run('control.openReplies', async () => {
      await client.sadd(bindingSetKey(exchange), member);
    });
    const reader = this.#ctx.openBlocking();
    reader.on('error', () => undefined);
    this.#listeners.add(reader);
    let open = true;
    const loop = (async () => {
      while (open) {
        let got: [string, string] | null;
        try {
          got = await reader.brpop(queue, 1);
        } catch {
          if (open) await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        if (!got) continue;
        try {
          onMessage(parseEnvelope(got[1]).message);
        } catch (err) {
          this.#ctx.options.logger.warn(
            { err, queue },
            'ignoring a reply that is not a kombu envelope',
          );
        }
      }
    })();
    return {
      close: async () => {
        if (!open) return;
        open = false;
        this.#listeners.delete(reader);
        reader.disconnect();
        await loop;
        await this.#ctx
          .run('control.closeReplies', async () => {
            if (this.#ctx.layout.cluster) {
              await Promise.all([client.srem(bindingSetKey(exchange), member), client.del(queue)]);
            } else {
              await client.multi().srem(bindingSetKey(exchange), member).del(queue).exec();
            }
          })
          .catch(() => undefined);
      },
    };
  }

  /** kombu's pub/sub channel for an exchange and routing key (`_get_publish_topic`). */
  #topic(exchange: string, routingKey: string | undefined): string {
    const prefix = `/${Number(this.#ctx.client.options.db ?? 0)}.${exchange}`;
    return routingKey ? `${prefix}/${routingKey}` : prefix;
  }

  /** Closes every listener (the broker is closing). */
  async close(): Promise<void> {
    const subs = [...this.#listeners];
    this.#listeners.clear();
    await Promise.all(subs.map((s) => s.quit().catch(() => s.disconnect())));
  }
}
