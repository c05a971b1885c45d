import type { ServerResponse } from 'node:http';

/**
 * The pages listening for live updates (server-sent events). A client that cannot keep up
 * (its socket buffer over `maxBuffered`) is dropped rather than buffered without bound; the
 * page's EventSource reconnects and gets a fresh snapshot.
 */
export class SseHub {
  readonly #clients = new Set<ServerResponse>();
  readonly #maxBuffered: number;

  constructor(maxBuffered = 4 * 1024 * 1024) {
    this.#maxBuffered = maxBuffered;
  }

  get size(): number {
    return this.#clients.size;
  }

  /** Opens the stream on `res` and sends `first` (the snapshot) as its first event. */
  open(res: ServerResponse, first: { event: string; data: unknown }): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    this.#clients.add(res);
    res.on('close', () => this.#clients.delete(res));
    this.#write(res, first.event, first.data);
  }

  /** Sends one event to every page. */
  broadcast(event: string, data: unknown): void {
    if (this.#clients.size === 0) return;
    for (const res of this.#clients) this.#write(res, event, data);
  }

  #write(res: ServerResponse, event: string, data: unknown): void {
    if (res.writableLength > this.#maxBuffered) {
      this.#clients.delete(res);
      res.destroy();
      return;
    }
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** A comment line, so proxies and the browser keep an idle stream open. */
  ping(): void {
    for (const res of this.#clients) res.write(': ping\n\n');
  }

  /** Ends every stream. */
  close(): void {
    for (const res of this.#clients) res.end();
    this.#clients.clear();
  }
}
