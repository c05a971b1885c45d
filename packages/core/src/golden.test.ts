/**
 * Golden vectors made by real Python Celery 5.2 / kombu 5.2 (fixtures/celery/generate.py):
 * what Celery publishes must decode to what Celery meant, and what Celeriac re-encodes must
 * have Celery's shape.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { unpack } from 'msgpackr';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  decodeTaskMessage,
  encodeTaskMessage,
  messageEta,
  messageExpires,
  type BrokerMessage,
  type MessageProperties,
  type TaskMessage,
} from './message.js';
import { buildResultDocument, type ResultDocument } from './result.js';
import { parseIsoDate, type SerializerName } from './serializers.js';
import { isExceptionDocument, TaskError } from './task-error.js';

const FIXTURES = new URL('../fixtures/celery/', import.meta.url);

interface Generator {
  celery: string;
  kombu: string;
}

interface Envelope {
  body: string;
  'content-type': string;
  'content-encoding': string;
  headers: Record<string, unknown>;
  properties: MessageProperties & {
    delivery_info: { exchange: string; routing_key: string };
    body_encoding: string;
    delivery_tag: string;
  };
}

interface TaskFixture {
  kind: 'task';
  name: string;
  serializer: SerializerName;
  note?: string;
  generator: Generator;
  envelope: Envelope;
  expected: {
    args: unknown[];
    kwargs: Record<string, unknown>;
    header_names: string[];
    headers: Record<string, unknown>;
    content_type: string;
    content_encoding: string;
    eta?: { $date: string };
    expires?: { $date: string };
    expiration?: string;
    time_limit?: number;
    soft_time_limit?: number;
    priority?: number;
    callback_tasks?: string[];
    errback_tasks?: string[];
    chain_tasks_in_order?: string[];
    chain_ids_in_order?: string[];
    chain_args_in_order?: unknown[][];
  };
}

interface ResultFixture {
  kind: 'result';
  name: string;
  generator: Generator;
  key: string;
  raw: string;
  document: ResultDocument;
  expected: {
    status: string;
    keys: string[];
    result?: unknown;
    date_done?: string | null;
    exc_type?: string;
    exc_module?: string;
    exc_args?: unknown[];
    message?: string;
    group_id?: string;
    parent_id?: string;
  };
}

function load<T>(file: string): T {
  return JSON.parse(readFileSync(new URL(file, FIXTURES), 'utf8')) as T;
}

const files = readdirSync(FIXTURES).sort();
const taskFixtures = files.filter((f) => f.startsWith('task-')).map((f) => load<TaskFixture>(f));
const resultFixtures = files
  .filter((f) => f.startsWith('result-'))
  .map((f) => load<ResultFixture>(f));

/** The fixture's ISO text as a JS Date: JS keeps milliseconds, so extra digits are cut here. */
function isoToDate(iso: string): Date {
  return new Date(iso.replace(/(\.\d{3})\d+/, '$1'));
}

/** Turns the fixtures' `{"$date"}` / `{"$bytes"}` convention into Date and Buffer. */
function revive(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(revive);
  if (typeof value !== 'object' || value === null) return value;
  const rec = value as Record<string, unknown>;
  if (typeof rec['$date'] === 'string') return isoToDate(rec['$date']);
  if (typeof rec['$bytes'] === 'string') return Buffer.from(rec['$bytes'], 'base64');
  return Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, revive(v)]));
}

function toBrokerMessage(env: Envelope): BrokerMessage {
  expect(env.properties.body_encoding).toBe('base64');
  return {
    body: Buffer.from(env.body, 'base64'),
    contentType: env['content-type'],
    contentEncoding: env['content-encoding'],
    headers: env.headers,
    properties: env.properties,
  };
}

/** Decodes a body with a plain decoder, as a non-Celeriac consumer would. */
function plainDecode(body: Buffer, contentType: string): unknown {
  return contentType === 'application/json' ? JSON.parse(body.toString('utf8')) : unpack(body);
}

describe('golden task messages from Celery', () => {
  it('has every vector the generator is meant to write', () => {
    const names = taskFixtures.map((f) => `${f.name}-${f.serializer}`).sort();
    const scenarios = [
      'plain',
      'eta',
      'expires',
      'timelimit',
      'priority',
      'retries',
      'callbacks',
      'chain',
    ];
    const wanted = [
      ...scenarios.flatMap((s) => [`${s}-json`, `${s}-msgpack`]),
      'datetime-marker-json',
    ].sort();
    expect(names).toEqual(wanted);
    for (const f of taskFixtures) {
      expect(f.generator.celery).toMatch(/^5\./);
      expect(f.envelope['content-type']).toBe(
        f.serializer === 'json' ? 'application/json' : 'application/x-msgpack',
      );
    }
  });

  describe.each(taskFixtures.map((f) => [`${f.name} (${f.serializer})`, f] as const))(
    '%s',
    (_label, f) => {
      const ex = f.expected;
      let raw: BrokerMessage;
      let decoded: TaskMessage;
      beforeAll(() => {
        raw = toBrokerMessage(f.envelope);
        decoded = decodeTaskMessage(raw);
      });

      it('decodes args, kwargs and content type', () => {
        expect(decoded.args).toEqual(revive(ex.args));
        expect(decoded.kwargs).toEqual(revive(ex.kwargs));
        expect(decoded.contentType).toBe(ex.content_type);
        expect(decoded.contentEncoding).toBe(ex.content_encoding);
      });

      it("decodes Celery's headers and keeps all of them", () => {
        for (const [name, value] of Object.entries(ex.headers)) {
          expect(decoded.headers[name], `header ${name}`).toEqual(value);
        }
        expect(Object.keys(decoded.headers).sort()).toEqual(ex.header_names);
        expect(decoded.headers.id).toBe(decoded.properties.correlation_id);
        expect(decoded.headers.lang).toBe('py');
        expect(decoded.properties.delivery_mode).toBe(2);
      });

      it('decodes eta, expires and the expiration property', () => {
        const eta = messageEta(decoded.headers);
        const expires = messageExpires(decoded.headers);
        if (ex.eta) expect(eta?.getTime()).toBe(isoToDate(ex.eta.$date).getTime());
        else expect(eta).toBeNull();
        if (ex.expires) expect(expires?.getTime()).toBe(isoToDate(ex.expires.$date).getTime());
        else expect(expires).toBeNull();
        expect(decoded.properties.expiration).toBe(ex.expiration);
      });

      it('reads timelimit as [hard, soft] and priority from the properties', () => {
        expect(decoded.headers.timelimit).toEqual([
          ex.time_limit ?? null,
          ex.soft_time_limit ?? null,
        ]);
        expect(decoded.properties.priority).toBe(ex.priority ?? 0);
      });

      it('decodes the embed: callbacks, errbacks and the chain in reverse order', () => {
        expect(decoded.embed.callbacks?.map((s) => s.task) ?? null).toEqual(
          ex.callback_tasks ?? null,
        );
        expect(decoded.embed.errbacks?.map((s) => s.task) ?? null).toEqual(
          ex.errback_tasks ?? null,
        );
        expect(decoded.embed.chord).toBeNull();
        const chain = decoded.embed.chain;
        if (!ex.chain_tasks_in_order) {
          expect(chain).toBeNull();
          return;
        }
        // The next step is the last element: reversing gives execution order.
        const inOrder = [...(chain ?? [])].reverse();
        expect(inOrder.map((s) => s.task)).toEqual(ex.chain_tasks_in_order);
        expect(inOrder.map((s) => s.options['task_id'])).toEqual(ex.chain_ids_in_order);
        expect(inOrder.map((s) => s.args)).toEqual(ex.chain_args_in_order);
        expect(chain?.at(-1)?.task).toBe('tasks.mul');
      });

      it("re-encodes to Celery's shape and back to equal values", () => {
        let source = decoded;
        if (f.name === 'datetime-marker') {
          // Bytes that are not utf-8 cannot travel as JSON to kombu 5.2; Celeriac refuses
          // them rather than send something a Python worker would misread.
          expect(() => encodeTaskMessage(decoded, 'json')).toThrow(
            expect.objectContaining({ code: 'CELERIAC_ERR_SERIALIZATION' }),
          );
          const { binary: _binary, ...kwargs } = decoded.kwargs;
          source = { ...decoded, kwargs };
        }
        const again = encodeTaskMessage(source, f.serializer);
        expect(again.contentType).toBe(f.envelope['content-type']);
        expect(again.contentEncoding).toBe(f.envelope['content-encoding']);
        expect(Object.keys(again.headers).sort()).toEqual(ex.header_names);
        expect(again.properties.correlation_id).toBe(f.envelope.properties.correlation_id);

        const body = plainDecode(again.body, again.contentType);
        expect(Array.isArray(body)).toBe(true);
        const [args, kwargs, embed] = body as [unknown, unknown, Record<string, unknown>];
        expect(Array.isArray(args)).toBe(true);
        expect(typeof kwargs === 'object' && kwargs !== null && !Array.isArray(kwargs)).toBe(true);
        expect(Object.keys(embed).sort()).toEqual(['callbacks', 'chain', 'chord', 'errbacks']);
        if (f.name !== 'datetime-marker') {
          // Same plain structure as the body Celery sent.
          expect(body).toEqual(plainDecode(raw.body, raw.contentType));
        } else {
          // Dates go out as ISO strings with an offset, which every kombu parses.
          expect((args as unknown[])[0]).toBe('2026-01-02T03:04:05.678000+00:00');
        }

        const back = decodeTaskMessage(again);
        expect(back.headers).toEqual(decoded.headers);
        expect(back.embed).toEqual(decoded.embed);
        if (f.name === 'datetime-marker') {
          expect(back.args).toEqual(['2026-01-02T03:04:05.678000+00:00', 'plain']);
          expect(back.kwargs).toEqual({
            at: '2026-06-30T21:59:01+00:00',
            day: '2026-01-02',
            clock: '13:14:15',
            amount: '12.50',
            ref: '0b9f6a1e-3c2d-4e5f-8a7b-6c5d4e3f2a10',
            blob: 'raw text',
          });
        } else {
          expect(back.args).toEqual(decoded.args);
          expect(back.kwargs).toEqual(decoded.kwargs);
        }
      });
    },
  );

  it('decodes every kombu >= 5.3 marker in the hand-built body', () => {
    const f = taskFixtures.find((x) => x.name === 'datetime-marker');
    expect(f?.note).toMatch(/kombu 5\.2\.4/);
    const decoded = decodeTaskMessage(toBrokerMessage(f!.envelope));
    expect(decoded.args[0]).toBeInstanceOf(Date);
    expect((decoded.args[0] as Date).toISOString()).toBe('2026-01-02T03:04:05.678Z');
    expect((decoded.kwargs['at'] as Date).toISOString()).toBe('2026-06-30T21:59:01.000Z');
    expect(decoded.kwargs['ref']).toBe('0b9f6a1e-3c2d-4e5f-8a7b-6c5d4e3f2a10');
    expect(decoded.kwargs['amount']).toBe('12.50');
    expect(decoded.kwargs['binary']).toEqual(Buffer.from([0xff, 0x00, 0xfe]));
  });
});

describe('golden result documents from Celery', () => {
  it('has every vector the generator is meant to write', () => {
    expect(resultFixtures.map((f) => f.name).sort()).toEqual([
      'failure',
      'failure-custom',
      'retry',
      'success',
      'success-extended',
    ]);
  });

  describe.each(resultFixtures.map((f) => [f.name, f] as const))('%s', (_name, f) => {
    const doc = f.document;

    it('is the document Celery stored under celery-task-meta-<id>', () => {
      expect(f.key).toBe(`celery-task-meta-${doc.task_id}`);
      expect(JSON.parse(f.raw)).toEqual(doc);
      expect(doc.status).toBe(f.expected.status);
      expect(Object.keys(doc)).toEqual(f.expected.keys);
    });

    it("buildResultDocument produces Celery's keys, in Celery's order", () => {
      const dateDone = doc.date_done === null ? null : parseIsoDate(doc.date_done);
      if (doc.date_done !== null) expect(dateDone).not.toBeNull();
      // Celery writes children: null when it stores a result outside a task (no request).
      const children = (doc.children as unknown[] | null) ?? [];
      const built = buildResultDocument({
        taskId: doc.task_id,
        status: doc.status,
        result: doc.result,
        traceback: doc.traceback,
        children,
        dateDone,
        groupId: doc.group_id ?? null,
        parentId: doc.parent_id ?? null,
        ...(typeof doc.name === 'string'
          ? {
              extended: {
                name: doc.name,
                args: doc.args ?? [],
                kwargs: doc.kwargs ?? {},
                worker: doc.worker ?? '',
                retries: doc.retries ?? 0,
                queue: doc.queue ?? '',
              },
            }
          : {}),
      });
      expect(Object.keys(built)).toEqual(f.expected.keys);
      // Celery 5.2 writes a naive UTC date_done; Celeriac writes the same instant with +00:00.
      const celeriacDate = doc.date_done === null ? null : `${doc.date_done}+00:00`;
      expect(built).toEqual({ ...doc, children, date_done: celeriacDate });
    });

    if (f.expected.status === 'SUCCESS') {
      it('carries the result and a date_done', () => {
        expect(doc.result).toEqual(f.expected.result);
        expect(doc.date_done).toBe(f.expected.date_done);
        expect(parseIsoDate(doc.date_done ?? '')?.toISOString()).toBe('2026-01-02T03:04:06.250Z');
      });
    } else {
      it('carries an exception document that TaskError reads', () => {
        expect(isExceptionDocument(doc.result)).toBe(true);
        if (!isExceptionDocument(doc.result)) return;
        const err = TaskError.fromDocument(doc.result, doc.traceback, doc.task_id);
        expect(err.type).toBe(f.expected.exc_type);
        expect(err.module).toBe(f.expected.exc_module);
        expect(err.args).toEqual(f.expected.exc_args);
        expect(err.remoteMessage).toBe(f.expected.message);
        expect(err.message).toBe(`${f.expected.exc_type}: ${f.expected.message}`);
        expect(err.taskId).toBe(doc.task_id);
        expect(err.traceback).toMatch(/^Traceback \(most recent call last\):/);
        expect(err.traceback).toContain(`${f.expected.exc_type}:`);
        expect(err.code).toBe('CELERIAC_ERR_TASK_FAILED');
        expect(err.toDocument()).toEqual(doc.result);
        if (f.expected.group_id) expect(doc.group_id).toBe(f.expected.group_id);
        if (f.expected.parent_id) expect(doc.parent_id).toBe(f.expected.parent_id);
        if (f.expected.status === 'RETRY') expect(doc.date_done).toBeNull();
      });
    }
  });
});
