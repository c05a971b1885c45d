import { loadavg, type } from 'node:os';
import type { EventSender } from '@celeriac/client/internal';

/** What a heartbeat reports of its worker. */
export interface HeartSource {
  /** Tasks running now. */
  active(): number;
  /** Tasks finished since start. */
  processed(): number;
}

/** Celery's `SOFTWARE_INFO`, with Celeriac's name and version. */
const SOFTWARE_INFO = {
  sw_ident: 'celeriac',
  sw_ver: '0.1.0',
  sw_sys: type(),
} as const;

/**
 * Celery's `Heart`: `worker-online` on start, `worker-heartbeat` every `interval` seconds
 * (Celery's 2), `worker-offline` on stop, each with `freq`, `active`, `processed`, `loadavg`
 * and the `sw_*` fields. Flower and `celery events` count a worker offline when its
 * heartbeats stop for longer than their expiry (Flower: 2 × freq + some slack).
 */
export class Heart {
  readonly #sender: EventSender;
  readonly #source: HeartSource;
  readonly #interval: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(sender: EventSender, source: HeartSource, interval = 2) {
    this.#sender = sender;
    this.#source = source;
    this.#interval = interval;
  }

  start(): void {
    if (this.#timer) return;
    this.#send('worker-online');
    this.#timer = setInterval(() => this.#send('worker-heartbeat'), this.#interval * 1000);
    this.#timer.unref();
  }

  /** Sends a `worker-heartbeat` now (remote control's `heartbeat`). */
  beat(): void {
    if (this.#timer) this.#send('worker-heartbeat');
  }

  /** Sends `worker-offline` and waits for every event under way to be published. */
  async stop(): Promise<void> {
    if (!this.#timer) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#send('worker-offline');
    await this.#sender.drain();
  }

  #send(type: 'worker-online' | 'worker-heartbeat' | 'worker-offline'): void {
    this.#sender.send(type, {
      freq: this.#interval,
      active: this.#source.active(),
      processed: this.#source.processed(),
      loadavg: loadavg().map((n) => Math.round(n * 100) / 100),
      ...SOFTWARE_INFO,
    });
  }
}
