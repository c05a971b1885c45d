import type { ControlChannel, Logger } from '@celeriac/core';
import { EventSender } from '@celeriac/client/internal';
import type { Command } from '../control/commands.js';
import { Observers } from '../observe.js';
import { Heart, type HeartSource } from './heart.js';
import { TaskEvents } from './task-events.js';

/** How long a worker's shutdown waits for its last events (see `WorkerMonitor.stop`). */
const LAST_EVENTS_MS = 2_000;

/** What `WorkerMonitor.start` needs: the transport's control channel and what to turn on. */
export interface MonitorStart {
  readonly channel: ControlChannel;
  readonly events: boolean;
  readonly heartbeat: boolean;
  readonly source: HeartSource;
}

/**
 * What a worker shows of itself besides remote control: Celery's events (task events and
 * heartbeats) and the in-process observers metrics and tracing hook into. Events need a
 * transport with a control channel (Redis, RabbitMQ); observers work on every broker.
 */
export class WorkerMonitor {
  readonly observers: Observers;
  readonly #hostname: string;
  readonly #logger: Logger;
  #taskEvents: TaskEvents | undefined;
  #heart: Heart | undefined;
  #sender: EventSender | undefined;
  #unobserve: (() => void) | undefined;

  constructor(hostname: string, logger: Logger) {
    this.#hostname = hostname;
    this.#logger = logger;
    this.observers = new Observers((err, step) =>
      logger.warn({ err, step }, 'a task observer threw; the task goes on'),
    );
  }

  /** Whether task events are being sent. */
  get taskEvents(): boolean {
    return this.#taskEvents?.enabled ?? false;
  }

  start(o: MonitorStart): void {
    const sender = new EventSender(o.channel, {
      hostname: this.#hostname,
      logger: this.#logger,
      bufferGroups: ['task'],
    });
    this.#sender = sender;
    this.#taskEvents = new TaskEvents(sender);
    if (o.events) this.#setTaskEvents(true);
    if (o.heartbeat) {
      this.#heart = new Heart(sender, o.source);
      this.#heart.start();
    }
  }

  /**
   * The remote-control commands events answer: Celery's `enable_events`, `disable_events` and
   * `heartbeat` (a heartbeat sent now), with Celery's replies.
   */
  commands(): Record<string, Command> {
    return {
      enable_events: () => {
        if (!this.#taskEvents || this.#taskEvents.enabled)
          return { ok: 'task events already enabled' };
        this.#setTaskEvents(true);
        this.#logger.info('task events enabled by remote control');
        return { ok: 'task events enabled' };
      },
      disable_events: () => {
        if (!this.#taskEvents?.enabled) return { ok: 'task events already disabled' };
        this.#setTaskEvents(false);
        this.#logger.info('task events disabled by remote control');
        return { ok: 'task events disabled' };
      },
      heartbeat: () => {
        this.#heart?.beat();
        return null;
      },
    };
  }

  /**
   * Task events watch the worker's steps only while on: off, they are no observer at all, so a
   * worker without `-E` pays nothing for them.
   */
  #setTaskEvents(on: boolean): void {
    const events = this.#taskEvents;
    if (!events) return;
    if (on && !events.enabled) {
      events.enable();
      this.#unobserve = this.observers.add(events);
    } else if (!on && events.enabled) {
      events.disable();
      this.#unobserve?.();
      this.#unobserve = undefined;
    }
  }

  /**
   * Sends `worker-offline` and publishes the events still buffered, waiting at most
   * `LAST_EVENTS_MS` for them: events are best effort, and with the broker gone a publish
   * waits through every reconnection attempt, which would hold up the worker's shutdown.
   */
  async stop(): Promise<void> {
    const heart = this.#heart;
    this.#heart = undefined;
    const sent = (async () => {
      await heart?.stop().catch(() => undefined);
      await this.#sender?.drain();
    })();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, LAST_EVENTS_MS)));
    await Promise.race([sent, late]);
    clearTimeout(timer);
  }
}
