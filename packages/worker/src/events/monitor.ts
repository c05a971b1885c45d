import type { ControlChannel, Logger, SerializerName } from '@celeriac/core';
import { EventSender } from '@celeriac/client/internal';
import { Observers } from '../observe.js';
import { RemoteControl, type ControlledWorker } from '../remote-control.js';
import { Heart, type HeartSource } from './heart.js';
import { TaskEvents } from './task-events.js';

/** What `WorkerMonitor.start` needs: the transport's control channel and what to turn on. */
export interface MonitorStart {
  readonly channel: ControlChannel;
  readonly controlled: ControlledWorker;
  /** The worker's task serializer: remote-control replies are encoded with it. */
  readonly replySerializer: SerializerName;
  readonly remoteControl: boolean;
  readonly events: boolean;
  readonly heartbeat: boolean;
  readonly source: HeartSource;
}

/**
 * What a worker shows of itself from outside: remote control, Celery's events (task events
 * and heartbeats) and the in-process observers metrics and tracing hook into. Events and
 * remote control need a transport with a control channel (Redis, RabbitMQ); observers work
 * on every broker.
 */
export class WorkerMonitor {
  readonly observers: Observers;
  readonly #hostname: string;
  readonly #logger: Logger;
  #remote: RemoteControl | undefined;
  #taskEvents: TaskEvents | undefined;
  #heart: Heart | undefined;
  #sender: EventSender | undefined;

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

  async start(o: MonitorStart): Promise<void> {
    const sender = new EventSender(o.channel, {
      hostname: this.#hostname,
      logger: this.#logger,
      bufferGroups: ['task'],
    });
    this.#sender = sender;
    const taskEvents = new TaskEvents(sender);
    this.#taskEvents = taskEvents;
    this.observers.add(taskEvents);
    if (o.events) taskEvents.enable();
    if (o.remoteControl) {
      const remote = new RemoteControl(o.channel, o.controlled, this.#logger, o.replySerializer);
      try {
        await remote.start();
        this.#remote = remote;
      } catch (err) {
        this.#logger.warn({ err }, 'remote control is off: could not listen for it');
      }
    }
    if (o.heartbeat) {
      this.#heart = new Heart(sender, o.source);
      this.#heart.start();
    }
  }

  /** Turns task events on or off (remote control's `enable_events` / `disable_events`). */
  setTaskEvents(on: boolean): void {
    if (on) this.#taskEvents?.enable();
    else this.#taskEvents?.disable();
  }

  /** Sends `worker-offline`, publishes the events still buffered, stops remote control. */
  async stop(): Promise<void> {
    const heart = this.#heart;
    this.#heart = undefined;
    await heart?.stop().catch(() => undefined);
    await this.#sender?.drain();
    const remote = this.#remote;
    this.#remote = undefined;
    await remote?.stop().catch(() => undefined);
  }
}
