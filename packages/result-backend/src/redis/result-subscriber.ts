import {
  CeleriacError,
  ErrorCodes,
  isReadyState,
  type Logger,
  type ResultDocument,
  type TaskState,
  type WaitOptions,
} from '@celeriac/core';
import { waitTimeoutError } from '@celeriac/core/internal';
import { isClusterClient } from '@celeriac/broker/redis/internal';
import type { Redis } from 'ioredis';

/** The channel of the first SUBSCRIBE on a cluster (see `clusterGate`); never published on. */
const CLUSTER_GATE_CHANNEL = '_celeriac.results.gate';

/**
 * One subscriber connection serves every `waitFor` of a backend, as Celery's `ResultConsumer`
 * does: a task's channel is subscribed while at least one caller waits on it (waiters on the
 * same id share the subscription) and unsubscribed when the last one leaves.
 *
 * Race-free by ordering: a waiter reads the key only after Redis has confirmed the SUBSCRIBE,
 * so a document stored before that is seen by the read, and one stored after it by the
 * message. After a reconnect the same holds: every pending channel is subscribed again and
 * then every pending key is read, so a result published while the connection was down is
 * not missed.
 */
export interface ResultSubscriberOptions {
  /** Opens the subscriber connection; called once, on the first wait. */
  connect: () => Redis;
  /** Reads stored values by key on the command connection, in order, null where absent. */
  read: (keys: readonly string[]) => Promise<(Buffer | null)[]>;
  /**
   * Decodes a stored or published document (JSON or msgpack, told apart by the first byte:
   * `result-codec.ts`); throws when it is not one. Payloads stay Buffers (`messageBuffer`,
   * `getBuffer`), never strings, so msgpack bytes reach it intact.
   */
  decode: (payload: Buffer, key: string) => ResultDocument;
  /** Turns a failure of the subscriber connection into a Celeriac error. */
  toError: (err: unknown, operation: string) => Error;
  logger: Logger;
}

interface Waiter {
  readonly taskId: string;
  settled: boolean;
  lastStatus: TaskState | undefined;
  resolve(doc: ResultDocument): void;
  reject(err: unknown): void;
}

interface Channel {
  readonly key: string;
  readonly waiters: Set<Waiter>;
  /** Settles when Redis has confirmed the SUBSCRIBE. */
  readonly subscribed: Promise<void>;
}

/** `setTimeout` cannot wait longer; a longer timeout means no timeout. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const RESUBSCRIBE_RETRY_MS = 1000;

export class ResultSubscriber {
  private connection: Redis | undefined;
  private readonly channels = new Map<string, Channel>();
  private everReady = false;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Settles when the connection's handshake under way ends (see `whenWritable`). */
  private handshake: Promise<void> | undefined;
  /** Cluster only: the first SUBSCRIBE's reply, which every other waits for. */
  private gate: Promise<void> | undefined;

  constructor(private readonly options: ResultSubscriberOptions) {}

  /** How many channels are subscribed (or being subscribed) right now. */
  get channelCount(): number {
    return this.channels.size;
  }

  wait(key: string, taskId: string, options: WaitOptions = {}): Promise<ResultDocument> {
    const { signal, timeoutMs } = options;
    if (this.closed) return Promise.reject(closedError(taskId));
    // The contract rejects with the signal's reason, whatever the caller made it.
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (timeoutMs !== undefined && !(timeoutMs >= 0)) {
      return Promise.reject(
        new CeleriacError(
          ErrorCodes.INVALID_OPTION,
          `waitFor timeoutMs must be a number of milliseconds >= 0, got ${String(timeoutMs)}`,
          { details: { option: 'timeoutMs', value: timeoutMs } },
        ),
      );
    }

    return new Promise<ResultDocument>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => waiter.reject(signal?.reason);
      const finish = (): boolean => {
        if (waiter.settled) return false;
        waiter.settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.leave(channel, waiter);
        return true;
      };
      const waiter: Waiter = {
        taskId,
        settled: false,
        lastStatus: undefined,
        resolve: (doc) => {
          if (finish()) resolve(doc);
        },
        reject: (err) => {
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- an abort's reason is the caller's
          if (finish()) reject(err);
        },
      };

      const channel = this.join(key);
      channel.waiters.add(waiter);
      if (timeoutMs !== undefined && timeoutMs <= MAX_TIMER_MS) {
        timer = setTimeout(() => waiter.reject(timeoutError(waiter, timeoutMs)), timeoutMs);
      }
      signal?.addEventListener('abort', onAbort, { once: true });

      channel.subscribed
        .then(async () => {
          if (waiter.settled) return;
          const [payload] = await this.options.read([key]);
          if (payload) this.deliver(key, this.options.decode(payload, key));
        })
        .catch((err: unknown) => waiter.reject(this.options.toError(err, 'SUBSCRIBE/GET')));
    });
  }

  /** Rejects every pending wait with `CELERIAC_ERR_CLOSED` and closes the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    const waiters = [...this.channels.values()].flatMap((c) => [...c.waiters]);
    this.channels.clear();
    for (const w of waiters) w.reject(closedError(w.taskId));
    const conn = this.connection;
    this.connection = undefined;
    if (conn) await disconnect(conn);
  }

  private join(key: string): Channel {
    const existing = this.channels.get(key);
    if (existing) return existing;
    const conn = this.subscriberConnection();
    const channel: Channel = {
      key,
      waiters: new Set(),
      subscribed: (isClusterClient(conn) ? this.clusterGate(conn) : this.whenWritable(conn))
        .then(() => conn.subscribe(key))
        .then(() => undefined),
    };
    // Waiters handle the failure themselves; this keeps the rejection from going unhandled
    // when they have all left before it arrived.
    channel.subscribed.catch(() => undefined);
    this.channels.set(key, channel);
    return channel;
  }

  /**
   * Resolves when a SUBSCRIBE may be sent: at once, unless the connection is in the middle of
   * its handshake (status `connect`), and then at its end (ready, or closed again). ioredis
   * writes a SUBSCRIBE at once in that state (SUBSCRIBE is allowed while Redis loads), and the
   * connection, now in subscriber mode, fails its own ready check (INFO), rejecting the
   * subscription: seen with waits begun during a reconnection (a failover). In any other
   * state the command waits in ioredis's offline queue, which is sent after the ready check.
   * One pair of listeners for every channel joined meanwhile.
   */
  private whenWritable(conn: Redis): Promise<void> {
    if (conn.status !== 'connect') return Promise.resolve();
    this.handshake ??= new Promise<void>((resolve) => {
      const done = (): void => {
        conn.off('ready', done);
        conn.off('close', done);
        this.handshake = undefined;
        resolve();
      };
      conn.on('ready', done);
      conn.on('close', done);
    });
    return this.handshake;
  }

  /**
   * On a Redis Cluster the subscriptions go through ioredis's cluster subscriber, a connection
   * of its own whose state `whenWritable` cannot see, with the same handshake race. So the
   * first SUBSCRIBE there is of a channel nothing publishes on, sent alone (from the offline
   * queue, after the handshake); the others wait for its reply.
   */
  private clusterGate(conn: Redis): Promise<void> {
    this.gate ??= conn.subscribe(CLUSTER_GATE_CHANNEL).then(
      () => undefined,
      (err: unknown) => {
        this.gate = undefined;
        throw err;
      },
    );
    return this.gate;
  }

  private leave(channel: Channel, waiter: Waiter): void {
    channel.waiters.delete(waiter);
    if (channel.waiters.size > 0 || this.channels.get(channel.key) !== channel) return;
    this.channels.delete(channel.key);
    if (this.closed || !this.connection) return;
    this.connection.unsubscribe(channel.key).catch((err: unknown) => {
      // A reconnect drops every subscription anyway, and only live channels are renewed.
      this.options.logger.debug({ err, channel: channel.key }, 'UNSUBSCRIBE failed');
    });
  }

  /** Hands a document to everyone waiting on its key; ready documents settle them. */
  private deliver(key: string, doc: ResultDocument): void {
    const channel = this.channels.get(key);
    if (!channel) return;
    const ready = isReadyState(doc.status);
    for (const w of [...channel.waiters]) {
      w.lastStatus = doc.status;
      if (ready) w.resolve(doc);
    }
  }

  /** Like `deliver`, but a value that does not decode fails its waiters, as `get` would. */
  private deliverStored(key: string, payload: Buffer): void {
    let doc: ResultDocument;
    try {
      doc = this.options.decode(payload, key);
    } catch (err) {
      for (const w of [...(this.channels.get(key)?.waiters ?? [])]) w.reject(err);
      return;
    }
    this.deliver(key, doc);
  }

  private subscriberConnection(): Redis {
    if (this.connection) return this.connection;
    const conn = this.options.connect();
    conn.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      const key = channel.toString('utf8');
      if (!this.channels.has(key)) return;
      let doc: ResultDocument;
      try {
        doc = this.options.decode(message, key);
      } catch (err) {
        this.options.logger.warn(
          { err, channel: key },
          'ignoring a published result that does not decode',
        );
        return;
      }
      this.deliver(key, doc);
    });
    conn.on('ready', () => {
      // The first connection sends its SUBSCRIBEs from ioredis's offline queue; after a
      // reconnect the server has forgotten them, and messages sent meanwhile are lost.
      if (this.everReady) void this.renew();
      this.everReady = true;
    });
    this.connection = conn;
    return conn;
  }

  /** Subscribes every pending channel again, then reads their keys. */
  private async renew(): Promise<void> {
    clearTimeout(this.retryTimer);
    const conn = this.connection;
    const keys = [...this.channels.keys()];
    if (this.closed || !conn || keys.length === 0) return;
    try {
      await conn.subscribe(...keys);
      const payloads = await this.options.read(keys);
      payloads.forEach((payload, i) => {
        const key = keys[i];
        if (payload && key !== undefined) this.deliverStored(key, payload);
      });
      this.options.logger.debug(
        { channels: keys.length },
        'result subscriptions renewed after reconnect',
      );
    } catch (err) {
      if (this.closed) return;
      this.options.logger.warn(
        { err, channels: keys.length },
        'renewing result subscriptions after a reconnect failed; retrying',
      );
      this.retryTimer = setTimeout(() => void this.renew(), RESUBSCRIBE_RETRY_MS);
      this.retryTimer.unref();
    }
  }
}

function timeoutError(waiter: Waiter, timeoutMs: number): CeleriacError {
  return waitTimeoutError(waiter.taskId, timeoutMs, waiter.lastStatus ?? 'PENDING');
}

function closedError(taskId: string): CeleriacError {
  return new CeleriacError(
    ErrorCodes.CLOSED,
    `the Redis result backend was closed while waiting for task ${taskId}`,
    { details: { taskId } },
  );
}

/** Closes a connection at once and resolves when its socket is gone. */
export async function disconnect(conn: Redis): Promise<void> {
  if (conn.status === 'end') return;
  const ended = new Promise<void>((resolve) => conn.once('end', () => resolve()));
  // Between reconnect attempts there is no socket left to close, and ioredis emits no 'end'.
  const between = conn.status === 'reconnecting';
  conn.disconnect(false);
  if (!between) await ended;
}

/** Closes a connection gracefully (QUIT, after its pending replies) when it is up. */
export async function quit(conn: Redis): Promise<void> {
  if (conn.status === 'ready') {
    try {
      await conn.quit();
      return;
    } catch {
      // fall through: the connection broke while quitting
    }
  }
  await disconnect(conn);
}
