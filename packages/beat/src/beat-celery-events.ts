import type { CeleryEventType } from '@celeriac/client';
import { EventSender } from '@celeriac/client/internal';
import type { Logger } from '@celeriac/core';
import type { BeatApp } from './beat.js';
import type { BeatEventMap, BeatEventName, BeatEvents, BeatListener } from './events.js';

/** Each beat event's Celery event type. */
export const CELERY_EVENT_TYPES = {
  submitted: 'beat-submitted',
  executed: 'beat-executed',
  error: 'beat-error',
  missed: 'beat-missed',
  maxInstances: 'beat-max-instances',
  added: 'beat-added',
  removed: 'beat-removed',
  modified: 'beat-modified',
  paused: 'beat-paused',
  resumed: 'beat-resumed',
} as const satisfies { readonly [K in BeatEventName]: CeleryEventType };

/** A result shown in an event at most this long (as a worker's `task-succeeded` shows a repr). */
const RESULT_CHARS = 1024;

function shown(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > RESULT_CHARS ? `${text.slice(0, RESULT_CHARS - 3)}...` : text;
}

/**
 * A beat event as a Celery event's fields, snake_case as Celery spells them: `entry`, and for
 * runs `name` (the task), `uuid` (its task id) and `scheduled_at` (ISO 8601).
 */
export function celeryEventFields<K extends BeatEventName>(
  name: K,
  event: BeatEventMap[K],
): Record<string, unknown> {
  const e = event as Partial<
    BeatEventMap['executed'] &
      BeatEventMap['error'] &
      BeatEventMap['missed'] &
      BeatEventMap['maxInstances']
  >;
  const fields: Record<string, unknown> = { entry: e.entry };
  if (e.task !== undefined) fields['name'] = e.task;
  if (e.taskId !== undefined) fields['uuid'] = e.taskId;
  if (e.scheduledAt !== undefined) fields['scheduled_at'] = e.scheduledAt.toISOString();
  if (name === 'executed') fields['result'] = shown(e.result);
  if (e.error) {
    fields['exception'] = `${e.error.type}(${JSON.stringify(e.error.message)})`;
    fields['traceback'] = e.error.traceback ?? null;
  }
  if (e.reason !== undefined) fields['reason'] = e.reason;
  if (e.running !== undefined) fields['running'] = e.running;
  if (e.maxInstances !== undefined) fields['max_instances'] = e.maxInstances;
  return fields;
}

export interface CeleryEventsForwarder {
  /** Stops forwarding and waits for the events under way. Idempotent. */
  close(): Promise<void>;
}

/**
 * Sends every event of a beat as a Celery event on `celeryev` (`beat-submitted`, ...), with
 * the beat's id as hostname, through the client's `EventSender`. The broker is asked for
 * once, at the first event; a broker without events (memory://) gets none, with one warning.
 * Best effort, as every Celery event: one that cannot be published is dropped and logged.
 */
export function forwardCeleryEvents(
  events: BeatEvents,
  app: BeatApp,
  hostname: string,
  logger: Logger,
): CeleryEventsForwarder {
  let sender: Promise<EventSender | undefined> | undefined;
  const open = (): Promise<EventSender | undefined> =>
    (sender ??= (async () => {
      try {
        const control = app.broker ? (await app.broker()).control : undefined;
        if (control) return new EventSender(control, { hostname, logger });
        logger.warn(
          'beat: events: true, but the broker has no events (use Redis or RabbitMQ); none are sent',
        );
      } catch (err) {
        logger.warn({ err }, 'beat: the broker for events could not be opened; none are sent');
      }
      return undefined;
    })());
  const sends = new Set<Promise<void>>();
  const listeners: [BeatEventName, BeatListener<BeatEventName>][] = [];
  for (const name of Object.keys(CELERY_EVENT_TYPES) as BeatEventName[]) {
    const listener: BeatListener<BeatEventName> = (event) => {
      const fields = celeryEventFields(name, event);
      const sent = open().then((s) => s?.send(CELERY_EVENT_TYPES[name], fields));
      sends.add(sent);
      void sent.finally(() => sends.delete(sent));
    };
    events.on(name, listener);
    listeners.push([name, listener]);
  }
  let closing: Promise<void> | undefined;
  return {
    close: () =>
      (closing ??= (async () => {
        for (const [name, listener] of listeners) events.off(name, listener);
        await Promise.all([...sends]);
        await (await sender)?.drain();
      })()),
  };
}
