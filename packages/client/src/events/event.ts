import { hostname as osHostname } from 'node:os';
import {
  serializerByName,
  type BrokerMessage,
  type ControlChannel,
  type ExchangeRoute,
  type Logger,
} from '@celeriac/core';
import { EventList } from './event-list.js';

/** Celery's events exchange (`event_exchange`). */
export const EVENT_EXCHANGE = 'celeryev';

/**
 * How Celery declares `celeryev`: a durable topic exchange on RabbitMQ (kombu's default
 * `Exchange`), a fanout with per-routing-key channels on Redis.
 */
export const EVENT_EXCHANGE_ROUTE: ExchangeRoute = { exchangeType: 'topic', durable: true };

/** Every event type Celery's workers and clients send, with the group it belongs to. */
export type CeleryEventType =
  | 'task-sent'
  | 'task-received'
  | 'task-started'
  | 'task-succeeded'
  | 'task-failed'
  | 'task-retried'
  | 'task-revoked'
  | 'task-rejected'
  | 'worker-online'
  | 'worker-heartbeat'
  | 'worker-offline'
  /** A beat's events (`new Beat(app, { events: true })`, `celeriac beat -E`); see docs/beat.md. */
  | 'beat-submitted'
  | 'beat-executed'
  | 'beat-error'
  | 'beat-missed'
  | 'beat-max-instances'
  | 'beat-added'
  | 'beat-removed'
  | 'beat-modified'
  | 'beat-paused'
  | 'beat-resumed';

/**
 * A Celery event, as `app.events.Receiver`, Flower and celery-exporter read it: a flat dict
 * with its `type`, the sender's `hostname`, `timestamp` (epoch seconds), `utcoffset` (hours
 * west of UTC, Python's `time.timezone // 3600`), `pid` and Lamport `clock`, and the fields of
 * its type (`uuid` for task events).
 */
export interface CeleryEvent {
  type: CeleryEventType | (string & {});
  hostname: string;
  timestamp: number;
  utcoffset?: number;
  pid?: number;
  clock?: number;
  uuid?: string;
  [field: string]: unknown;
}

const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * A string (or null) as JSON text, fast: most event fields (ids, task names, reprs) need no
 * escaping, and `JSON.stringify` is called only for those that do.
 */
export function jsonText(value: string | null | undefined): string {
  if (value === null || value === undefined) return 'null';
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
}

/** Celery's `utcoffset()`: hours west of UTC, daylight saving included. */
export function utcOffsetHours(now: Date = new Date()): number {
  return Math.floor(now.getTimezoneOffset() / 60);
}

/** `celery@host` style default name for a process that sends events. */
export function defaultEventHostname(prefix = 'celeriac'): string {
  return `${prefix}@${osHostname()}`;
}

export interface EventSenderOptions {
  hostname: string;
  logger: Logger;
  /**
   * Groups (the part of the type before `-`) whose events are sent one tick later as one
   * list on `<group>.multi`, as a Celery worker's event loop buffers its task events.
   * @default none
   */
  bufferGroups?: readonly string[];
  /** The most events one buffered list holds before it is sent at once. @default 1000 */
  bufferLimit?: number;
}

const JSON_CONTENT_TYPE = serializerByName('json').contentType;

/**
 * Sends Celery events on `celeryev`, as Celery's `EventDispatcher` does: each event gets
 * `hostname`, `utcoffset`, `pid`, `clock` and `timestamp`, is JSON-encoded (what every
 * receiver accepts), published transient with header `hostname` and routing key
 * `task.succeeded` for `task-succeeded`. Events of a buffered group are collected and sent
 * once per tick as one list. Events are best effort: one that cannot be published is
 * dropped and logged, never retried or held in memory.
 */
export class EventSender {
  readonly hostname: string;
  readonly #channel: ControlChannel;
  readonly #logger: Logger;
  readonly #bufferGroups: ReadonlySet<string>;
  readonly #bufferLimit: number;
  /** Each event type's buffered group (null: not buffered), found once per type. */
  readonly #groupByType = new Map<string, string | null>();
  readonly #buffers = new Map<string, EventList>();
  #flushScheduled = false;
  #clock = 0;
  /** The common fields but clock and timestamp, as JSON members; set with the UTC offset. */
  #common = '';
  #offsetUntil = 0;
  #stampAt = -1;
  #stamp = '';
  #pending = new Set<Promise<void>>();
  #warned = false;
  readonly #headers: Record<string, unknown>;
  /** Per routing key: the route and the message fields but the body, made once. */
  readonly #routes = new Map<string, { route: ExchangeRoute; meta: Omit<BrokerMessage, 'body'> }>();

  constructor(channel: ControlChannel, options: EventSenderOptions) {
    this.#channel = channel;
    this.hostname = options.hostname;
    this.#logger = options.logger;
    this.#bufferGroups = new Set(options.bufferGroups ?? []);
    this.#bufferLimit = options.bufferLimit ?? 1000;
    this.#headers = { hostname: this.hostname };
  }

  /**
   * Sends the event of `type` with `fields` (now, or with its group's list on the next tick),
   * adding `hostname`, `utcoffset`, `pid`, `clock` and `timestamp`. The event is written to
   * JSON at once; `fields` is not kept.
   */
  send(type: CeleryEventType, fields: Record<string, unknown>): void {
    let own: string;
    try {
      own = JSON.stringify(fields);
    } catch (err) {
      this.#logger.warn({ err, type }, 'an event could not be encoded; dropped');
      return;
    }
    this.sendMembers(type, own.slice(1, -1));
  }

  /**
   * `send` for the hot path: the event's own fields given as JSON object members, without
   * braces (`"uuid":"…","runtime":0.01`), written by the caller with `jsonText`. A worker's
   * task events go this way: three per task, each built with no object and no generic pass.
   */
  sendMembers(type: CeleryEventType, members: string): void {
    const now = Date.now();
    if (now >= this.#offsetUntil) {
      const offset = utcOffsetHours(new Date(now));
      this.#offsetUntil = now + 60_000; // a daylight-saving change shows within a minute
      this.#common = `"hostname":${JSON.stringify(this.hostname)},"utcoffset":${offset},"pid":${process.pid}`;
    }
    // Many events share a millisecond: its seconds are written to text once.
    if (now !== this.#stampAt) {
      this.#stampAt = now;
      this.#stamp = String(now / 1000);
    }
    const text = `{${members}${members ? ',' : ''}${this.#common},"clock":${++this.#clock},"timestamp":${this.#stamp},"type":"${type}"}`;
    const group = this.#groupOf(type);
    if (group === undefined) {
      this.#publish(text, type.replace('-', '.'));
      return;
    }
    let buffer = this.#buffers.get(group);
    if (!buffer) this.#buffers.set(group, (buffer = new EventList()));
    buffer.push(text);
    if (buffer.count >= this.#bufferLimit) this.#flushGroup(group);
    else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** The buffered group of an event type (the part before `-`), or undefined when unbuffered. */
  #groupOf(type: string): string | undefined {
    let group = this.#groupByType.get(type);
    if (group === undefined) {
      const g = type.slice(0, type.indexOf('-'));
      group = this.#bufferGroups.has(g) ? g : null;
      this.#groupByType.set(type, group);
    }
    return group ?? undefined;
  }

  /** Sends every buffered list now. */
  flush(): void {
    this.#flushScheduled = false;
    for (const group of this.#buffers.keys()) this.#flushGroup(group);
  }

  /** Flushes, then waits for every publish under way (each settles; none rejects). */
  async drain(): Promise<void> {
    this.flush();
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  #flushGroup(group: string): void {
    const events = this.#buffers.get(group);
    if (!events || events.count === 0) return;
    // The list's bytes as the body (on Redis: base64 in the envelope, as kombu writes every
    // body, Celery's own events included): no JSON string of the list to build and escape.
    this.#publishBody(events.take(), `${group}.multi`);
  }

  #routeOf(routingKey: string): { route: ExchangeRoute; meta: Omit<BrokerMessage, 'body'> } {
    let r = this.#routes.get(routingKey);
    if (!r) {
      r = {
        route: { ...EVENT_EXCHANGE_ROUTE, routingKey },
        meta: {
          contentType: JSON_CONTENT_TYPE,
          contentEncoding: 'utf-8',
          headers: this.#headers,
          properties: { delivery_mode: 1 },
        },
      };
      this.#routes.set(routingKey, r);
    }
    return r;
  }

  /** A list of events as UTF-8 JSON bytes. */
  #publishBody(body: Buffer, routingKey: string): void {
    const { route, meta } = this.#routeOf(routingKey);
    let publishing: Promise<void>;
    try {
      publishing = this.#channel.broadcast(EVENT_EXCHANGE, { ...meta, body }, route);
    } catch (err) {
      this.#logger.warn({ err, routingKey }, 'an event could not be encoded; dropped');
      return;
    }
    this.#track(publishing);
  }

  /**
   * `json`: one event as JSON text; sent as text where the transport can carry it (Redis: no
   * Buffer, no base64), else as a UTF-8 body. A buffered group's list goes by `#publishBody`.
   */
  #publish(json: string, routingKey: string): void {
    const { route, meta } = this.#routeOf(routingKey);
    let publishing: Promise<void>;
    try {
      const channel = this.#channel;
      publishing = channel.broadcastText
        ? channel.broadcastText(EVENT_EXCHANGE, json, meta, route)
        : channel.broadcast(EVENT_EXCHANGE, { ...meta, body: Buffer.from(json) }, route);
    } catch (err) {
      this.#logger.warn({ err, routingKey }, 'an event could not be encoded; dropped');
      return;
    }
    this.#track(publishing);
  }

  /** Keeps a publish under way for `drain()`, and logs its failure once per outage. */
  #track(publishing: Promise<void>): void {
    const sent = publishing
      .then(
        () => {
          this.#warned = false;
        },
        (err: unknown) => {
          // Once per outage: events are best effort, and a broker outage is logged elsewhere.
          if (!this.#warned) this.#logger.warn({ err }, 'events could not be sent; dropping them');
          this.#warned = true;
        },
      )
      .finally(() => this.#pending.delete(sent));
    this.#pending.add(sent);
  }
}
