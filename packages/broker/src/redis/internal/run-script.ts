import { createHash } from 'node:crypto';
import { Command, type Redis } from 'ioredis';

declare const reply: unique symbol;

/**
 * One Lua script, one atomic Redis operation (its header names every KEYS and ARGV entry), as
 * {@link runScript} sends it. `R` is what the script replies.
 */
export interface RedisScript<R> {
  readonly lua: string;
  /** SHA1 of `lua`, for EVALSHA. */
  readonly sha: string;
  /**
   * Written to the connection at once rather than through ioredis auto-pipelining: for a call
   * that is a batch already (a turn's publishes or stores, a fetch of many messages), which
   * auto-pipelining would only hold back to the next `setImmediate` and wrap in a pipeline of
   * one. Its reply is decoded as utf-8.
   */
  readonly direct: boolean;
  /** Bulk replies come back as Buffers (binary values such as msgpack), not utf-8 strings. */
  readonly binary: boolean;
  /** Carries `R` for the type checker only. */
  readonly [reply]?: R;
}

/** A script for {@link runScript}, its SHA1 computed once. */
export function redisScript<R>(
  lua: string,
  options: { direct?: boolean; binary?: boolean } = {},
): RedisScript<R> {
  return {
    lua,
    sha: createHash('sha1').update(lua).digest('hex'),
    direct: options.direct ?? false,
    binary: options.binary ?? false,
  };
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.includes('NOSCRIPT');
}

/**
 * Runs a script with its keys and args: EVALSHA, and EVAL with the body when the server does
 * not have it (first use, or after a restart flushed its script cache). The one runner of the
 * broker, the result backend, the beat store and coordination.
 *
 * Not ioredis `defineCommand`: its script commands keep their arguments and replies reachable
 * well past their resolution (measured: a loop of 200-element script replies had 11 MB of
 * 13.5 MB allocated survive each scavenge, against 2 KB for the same EVALSHA sent as a plain
 * command), and a worker's fetch replies are most of what it allocates, so every reply was
 * promoted to the old generation and the young generation grew to its cap.
 */
export function runScript<R>(
  client: Redis,
  script: RedisScript<R>,
  keys: readonly string[],
  args: readonly (string | number | Buffer)[],
): Promise<R> {
  const send = (verb: 'evalsha' | 'eval', body: string): Promise<unknown> => {
    if (script.binary) return client.callBuffer(verb, body, keys.length, ...keys, ...args);
    if (!script.direct) return client.call(verb, body, keys.length, ...keys, ...args);
    const command = new Command(verb, [body, keys.length, ...keys, ...args], {
      replyEncoding: 'utf8',
    });
    client.sendCommand(command);
    return command.promise as Promise<unknown>;
  };
  return send('evalsha', script.sha).catch((err: unknown) => {
    if (!isNoScript(err)) throw err;
    return send('eval', script.lua);
  }) as Promise<R>;
}
