import { createHash } from 'node:crypto';
import { CeleriacError, ErrorCodes } from '@celeriac/core';
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
  const send = (verb: 'evalsha' | 'eval', body: string): Promise<unknown> =>
    sendScript(client, script, verb, body, keys, args);
  return send('evalsha', script.sha).catch((err: unknown) => {
    if (!isNoScript(err)) throw err;
    return send('eval', script.lua);
  }) as Promise<R>;
}

function sendScript(
  client: Redis,
  script: RedisScript<unknown>,
  verb: 'evalsha' | 'eval',
  body: string,
  keys: readonly string[],
  args: readonly (string | number | Buffer)[],
): Promise<unknown> {
  if (script.binary) return client.callBuffer(verb, body, keys.length, ...keys, ...args);
  if (!script.direct) return client.call(verb, body, keys.length, ...keys, ...args);
  return sendDirect(client, verb, [body, keys.length, ...keys, ...args]);
}

/**
 * A command that takes its argument list as it is. ioredis' constructor copies the list it is
 * given (`args.flat()`), and the list of a turn's store-many call, a few hundred words long,
 * was made for this command alone: on a drain, that copy was 3% of the worker's CPU.
 */
class DirectCommand extends Command {
  constructor(verb: string, args: (string | number | Buffer)[]) {
    super(verb, [], { replyEncoding: 'utf8' });
    this.args = args;
    this.stringifyArguments();
  }
}

function sendDirect(
  client: Redis,
  verb: string,
  args: (string | number | Buffer)[],
): Promise<unknown> {
  const command = new DirectCommand(verb, args);
  client.sendCommand(command);
  return command.promise as Promise<unknown>;
}

/** How many replicas a write waits for (Redis `WAIT`), and for how long. */
export interface WaitOptions {
  readonly replicas: number;
  readonly timeoutMs: number;
}

/**
 * {@link runScript}, then Redis `WAIT replicas timeout` on the same connection, sent right
 * behind the script (the same way, so in the same write when pipelined): it resolves once
 * `wait.replicas` replicas confirmed every write the connection made so far, the script's
 * included, and rejects with `CELERIAC_ERR_NOT_REPLICATED` when fewer did in time (the write
 * stands on the master). When the server lacked the script (NOSCRIPT, as on a replica just
 * promoted, whose script cache is empty), the script's EVAL gets a `WAIT` of its own.
 */
export async function runScriptReplicated<R>(
  client: Redis,
  script: RedisScript<R>,
  keys: readonly string[],
  args: readonly (string | number | Buffer)[],
  wait: WaitOptions | undefined,
): Promise<R> {
  if (wait === undefined || wait.replicas === 0) return runScript(client, script, keys, args);
  const sendWait = (): Promise<unknown> => {
    const waitArgs = [wait.replicas, wait.timeoutMs];
    const p = script.direct
      ? sendDirect(client, 'wait', waitArgs)
      : client.call('wait', ...waitArgs);
    // Read only when the script succeeded; a failed script's WAIT reply is of no interest.
    p.catch(() => undefined);
    return p;
  };
  let reply: unknown;
  const first = sendScript(client, script, 'evalsha', script.sha, keys, args);
  let waited = sendWait();
  try {
    reply = await first;
  } catch (err) {
    if (!isNoScript(err)) throw err;
    const second = sendScript(client, script, 'eval', script.lua, keys, args);
    waited = sendWait();
    reply = await second;
  }
  const confirmed = Number(await waited);
  if (!(confirmed >= wait.replicas)) throw notReplicated(confirmed, wait);
  return reply as R;
}

function notReplicated(confirmed: number, wait: WaitOptions): CeleriacError {
  return new CeleriacError(
    ErrorCodes.NOT_REPLICATED,
    `the write reached the Redis master, but ${confirmed} of the ${wait.replicas} replica(s) asked for (waitReplicas) confirmed it within ${wait.timeoutMs} ms, so a failover now could lose it. Check the replicas (redis-cli INFO replication on the master), raise waitTimeoutMs, or lower waitReplicas`,
    {
      details: { replicas: confirmed, waitReplicas: wait.replicas, waitTimeoutMs: wait.timeoutMs },
    },
  );
}
