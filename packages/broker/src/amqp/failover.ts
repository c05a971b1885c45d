import { CeleriacError, ErrorCodes } from '@celeriac/core';
import { safeUrl } from './errors.js';

/**
 * How a connection to a RabbitMQ cluster picks the next node from its URL list when it cannot
 * connect or loses its connection (Celery's `broker_failover_strategy`): `round-robin` goes down
 * the list in order and starts over; `shuffle` tries the nodes of each round in a random order.
 */
export type AmqpFailoverStrategy = 'round-robin' | 'shuffle';

/**
 * The URLs a broker URL names: one `amqp://` / `amqps://` URL, several joined by `;` as Celery
 * and kombu write them (`amqp://h1//;amqp://h2//`), or an array of them. Each must be an
 * `amqp://` or `amqps://` URL (`CELERIAC_ERR_UNSUPPORTED_URL` otherwise); an empty entry, one
 * that does not parse, a repeated one, or one naming another virtual host than the first is
 * refused with `CELERIAC_ERR_INVALID_URL`: every node of a cluster has the same virtual hosts,
 * and a list reaching two vhosts would silently split the queues.
 */
export function parseAmqpUrls(url: string | readonly string[], owner: string): string[] {
  const joined = typeof url === 'string' ? url : url.join(';');
  const list = typeof url === 'string' ? url.split(';').map((u) => u.trim()) : [...url];
  const invalid = (why: string): CeleriacError =>
    new CeleriacError(ErrorCodes.INVALID_URL, `${owner} URL "${safeUrl(joined)}": ${why}`, {
      details: { url: safeUrl(joined), option: 'url' },
    });
  if (list.length === 0) throw invalid('the list of URLs is empty');
  let vhost: string | undefined;
  const seen = new Set<string>();
  for (const [i, u] of list.entries()) {
    if (typeof u !== 'string' || u === '') {
      throw invalid(`entry ${i + 1} is empty (write amqp://host1//;amqp://host2//)`);
    }
    if (!/^amqps?:\/\//i.test(u)) {
      throw new CeleriacError(
        ErrorCodes.UNSUPPORTED_URL,
        `${owner} needs an amqp:// or amqps:// URL, got "${safeUrl(u)}"${list.length > 1 ? ` (entry ${i + 1} of ${list.length})` : ''}`,
        { details: { url: safeUrl(joined), option: 'url' } },
      );
    }
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw invalid(`entry ${i + 1} ("${safeUrl(u)}") is not a valid URL`);
    }
    if (parsed.hostname === '' && list.length > 1) {
      throw invalid(`entry ${i + 1} ("${safeUrl(u)}") names no host`);
    }
    // amqplib's reading: no path or "/" is the vhost "/", otherwise the path without its "/".
    const v =
      parsed.pathname === '' || parsed.pathname === '/'
        ? '/'
        : decodeURIComponent(parsed.pathname.slice(1));
    if (vhost === undefined) vhost = v;
    else if (v !== vhost) {
      throw invalid(
        `entry ${i + 1} names the virtual host "${v}", the first "${vhost}": every URL of a cluster list must name the same one`,
      );
    }
    const key = `${parsed.protocol}//${parsed.host.toLowerCase()}`;
    if (seen.has(key)) throw invalid(`entry ${i + 1} ("${safeUrl(u)}") repeats a node`);
    seen.add(key);
  }
  return list;
}

/**
 * Which URL of a list to connect to next. `advance()` moves on after a failed attempt or a lost
 * connection; `roundDone` tells when every URL of the list was tried since the last successful
 * connection, which is when the caller pauses (its backoff) before going round again.
 */
export class UrlRotation {
  readonly #urls: readonly string[];
  readonly #strategy: AmqpFailoverStrategy;
  readonly #random: () => number;
  #order: number[];
  #pos = 0;
  #failures = 0;

  constructor(
    urls: readonly string[],
    strategy: AmqpFailoverStrategy,
    random: () => number = Math.random,
  ) {
    this.#urls = urls;
    this.#strategy = strategy;
    this.#random = random;
    // A shuffled list starts anywhere; a round-robin one at its first URL, as Celery does.
    this.#order = this.#round();
  }

  /** The URL to try now. */
  get current(): string {
    return this.#urls[this.#order[this.#pos]!]!;
  }

  get size(): number {
    return this.#urls.length;
  }

  /** A connection to `current` failed: the next URL, and whether a whole round has now failed. */
  failed(): { roundDone: boolean } {
    this.#failures++;
    this.#next();
    const roundDone = this.#failures >= this.#urls.length;
    if (roundDone) this.#failures = 0;
    return { roundDone };
  }

  /** A connection to `current` opened. */
  connected(): void {
    this.#failures = 0;
  }

  /**
   * The open connection was lost: try another node first (with one URL, the same again). The
   * node that dropped the connection is often the one going down.
   */
  lost(): void {
    this.#failures = 0;
    this.#next();
  }

  #next(): void {
    this.#pos++;
    if (this.#pos < this.#order.length) return;
    const last = this.#order[this.#order.length - 1];
    this.#order = this.#round();
    this.#pos = 0;
    // A new shuffled round should not start where the old one ended, when it can avoid it.
    if (this.#order.length > 1 && this.#order[0] === last) {
      [this.#order[0], this.#order[1]] = [this.#order[1]!, this.#order[0]!];
    }
  }

  #round(): number[] {
    const order = this.#urls.map((_, i) => i);
    if (this.#strategy === 'shuffle') {
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(this.#random() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
    }
    return order;
  }
}
