import { describe, expect, it } from 'vitest';
import { isCeleriacError, type CeleriacError } from './errors.js';
import {
  createTaskMessage,
  decodeTaskMessage,
  defaultOrigin,
  encodeTaskMessage,
  messageEta,
  messageExpires,
  type BrokerMessage,
} from './message.js';

const ID = '9a3e1c52-7d4b-4f0e-9c1a-2b3c4d5e6f70';

function validHeaders(): Record<string, unknown> {
  return {
    lang: 'py',
    task: 'tasks.add',
    id: ID,
    shadow: null,
    eta: null,
    expires: null,
    group: null,
    group_index: null,
    retries: 0,
    timelimit: [null, null],
    root_id: ID,
    parent_id: null,
    argsrepr: '(1, 2)',
    kwargsrepr: '{}',
    origin: 'gen1@host',
    ignore_result: false,
  };
}

const EMBED = { callbacks: null, errbacks: null, chain: null, chord: null };

/** A JSON message with the given body and header overrides (`undefined` removes a header). */
function raw(body: unknown, headers: Record<string, unknown> = {}): BrokerMessage {
  const h = { ...validHeaders(), ...headers };
  for (const k of Object.keys(h)) if (h[k] === undefined) delete h[k];
  return {
    body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8'),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: h,
    properties: { correlation_id: ID, reply_to: '', delivery_mode: 2 },
  };
}

function decodeError(message: BrokerMessage): CeleriacError {
  try {
    decodeTaskMessage(message);
  } catch (err) {
    expect(isCeleriacError(err)).toBe(true);
    return err as CeleriacError;
  }
  throw new Error('expected decodeTaskMessage to throw');
}

/** Asserts a CELERIAC_ERR_MALFORMED_MESSAGE that names `field` in its details and text. */
function expectMalformed(message: BrokerMessage, field: string): CeleriacError {
  const err = decodeError(message);
  expect(err.code).toBe('CELERIAC_ERR_MALFORMED_MESSAGE');
  expect(err.details['field']).toBe(field);
  expect(err.message).toContain(field);
  return err;
}

describe('createTaskMessage', () => {
  it("fills Celery's protocol v2 headers and properties", () => {
    const eta = new Date('2026-01-02T03:04:05.678Z');
    const expires = new Date('2026-01-02T04:04:05Z');
    const m = createTaskMessage({
      name: 'tasks.add',
      id: ID,
      args: [1, 'a'],
      kwargs: { z: true },
      eta,
      expires,
      retries: 2,
      timeLimit: 30,
      softTimeLimit: 20,
      priority: 5,
      replyTo: 'reply-q',
      origin: 'gen7@box',
    });
    expect(m.headers).toEqual({
      lang: 'js',
      task: 'tasks.add',
      id: ID,
      shadow: null,
      eta: '2026-01-02T03:04:05.678000+00:00',
      expires: '2026-01-02T04:04:05+00:00',
      group: null,
      group_index: null,
      retries: 2,
      timelimit: [30, 20],
      root_id: ID,
      parent_id: null,
      argsrepr: "(1, 'a')",
      kwargsrepr: "{'z': True}",
      origin: 'gen7@box',
      ignore_result: false,
    });
    expect(m.properties).toEqual({
      correlation_id: ID,
      reply_to: 'reply-q',
      delivery_mode: 2,
      priority: 5,
    });
    expect(m.embed).toEqual(EMBED);
  });

  it('defaults: a fresh uuid as id and root, no priority, an anonymous origin', () => {
    const a = createTaskMessage({ name: 't' });
    const b = createTaskMessage({ name: 't' });
    expect(a.headers.id).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(a.headers.id).not.toBe(b.headers.id);
    expect(a.headers.root_id).toBe(a.headers.id);
    expect(a.properties.correlation_id).toBe(a.headers.id);
    expect('priority' in a.properties).toBe(false);
    expect(a.headers.origin).toBe(defaultOrigin());
    expect(defaultOrigin()).toMatch(/^gen\d+@/);
    expect(a.args).toEqual([]);
    expect(a.kwargs).toEqual({});
    expect(a.headers.argsrepr).toBe('()');
  });

  it('keeps extra headers but never lets them replace Celery ones', () => {
    const m = createTaskMessage({
      name: 'real',
      id: ID,
      headers: { task: 'fake', 'x-trace': 'abc' },
    });
    expect(m.headers.task).toBe('real');
    expect(m.headers['x-trace']).toBe('abc');
  });

  it('copies args and kwargs, so later changes by the caller do not leak in', () => {
    const args = [1];
    const kwargs: Record<string, unknown> = { a: 1 };
    const m = createTaskMessage({ name: 't', args, kwargs });
    args.push(2);
    kwargs['b'] = 2;
    expect(m.args).toEqual([1]);
    expect(m.kwargs).toEqual({ a: 1 });
  });
});

describe('encodeTaskMessage / decodeTaskMessage', () => {
  it.each(['json', 'msgpack'] as const)('round-trips through %s', (serializer) => {
    const sig = {
      task: 'tasks.next',
      args: [],
      kwargs: {},
      options: {},
      subtask_type: null,
      immutable: false,
    };
    const m = createTaskMessage({
      name: 'tasks.add',
      id: ID,
      args: [1, [2, { three: 3 }]],
      kwargs: { big: 2 ** 40 },
      eta: new Date('2026-01-02T03:04:05Z'),
      timeLimit: 10,
      chain: [sig],
      callbacks: [sig],
      headers: { 'x-custom': 1 },
    });
    const wire = encodeTaskMessage(m, serializer);
    expect(wire.contentType).toBe(
      serializer === 'json' ? 'application/json' : 'application/x-msgpack',
    );
    expect(wire.contentEncoding).toBe(serializer === 'json' ? 'utf-8' : 'binary');
    const back = decodeTaskMessage(wire);
    expect(back.headers).toEqual(m.headers);
    expect(back.args).toEqual(m.args);
    expect(back.kwargs).toEqual(m.kwargs);
    expect(back.embed).toEqual(m.embed);
    expect(back.properties).toEqual(m.properties);
  });

  it('decode uses headers already in normalized form as they are, and copies the others', () => {
    const ready = raw([[1, 2], {}, EMBED]);
    expect(decodeTaskMessage(ready).headers).toBe(ready.headers);
    // A missing field is filled in on a copy; the message's own headers stay as they were.
    const partial = raw([[1, 2], {}, EMBED], { shadow: undefined, timelimit: [1, 2] });
    const decoded = decodeTaskMessage(partial);
    expect(decoded.headers).not.toBe(partial.headers);
    expect(decoded.headers.shadow).toBeNull();
    expect(decoded.headers.timelimit).toEqual([1, 2]);
    expect('shadow' in partial.headers).toBe(false);
    expect(Object.keys(decoded.headers)).toEqual([...Object.keys(partial.headers), 'shadow']);
  });

  it('encodes the body as [args, kwargs, embed]', () => {
    const wire = encodeTaskMessage(createTaskMessage({ name: 't', args: [1], kwargs: { a: 2 } }));
    expect(JSON.parse(wire.body.toString('utf8'))).toEqual([[1], { a: 2 }, EMBED]);
  });

  it('keeps unknown headers and properties', () => {
    const m = raw([[], {}, EMBED], { 'x-custom': { deep: [1] } });
    m.properties['x-prop'] = 'kept';
    const back = decodeTaskMessage(m);
    expect(back.headers['x-custom']).toEqual({ deep: [1] });
    expect(back.properties['x-prop']).toBe('kept');
  });

  it('accepts a two-element body and missing optional headers', () => {
    const back = decodeTaskMessage(
      raw([[1], { a: 1 }], {
        lang: undefined,
        retries: undefined,
        timelimit: undefined,
        eta: undefined,
      }),
    );
    expect(back.embed).toEqual(EMBED);
    expect(back.headers.lang).toBe('py');
    expect(back.headers.retries).toBe(0);
    expect(back.headers.timelimit).toEqual([null, null]);
    expect(back.headers.eta).toBeNull();
  });

  it('reads eta and expires as Dates', () => {
    const back = decodeTaskMessage(
      raw([[], {}, EMBED], { eta: '2026-01-02T05:04:05.5+02:00', expires: '2026-01-02T04:04:05Z' }),
    );
    expect(messageEta(back.headers)?.toISOString()).toBe('2026-01-02T03:04:05.500Z');
    expect(messageExpires(back.headers)?.toISOString()).toBe('2026-01-02T04:04:05.000Z');
    expect(messageEta({ eta: null })).toBeNull();
  });
});

describe('decodeTaskMessage validation names the offending field', () => {
  const body = [[1, 2], {}, EMBED];

  it('missing headers', () => {
    expectMalformed(
      { ...raw(body), headers: null as unknown as Record<string, unknown> },
      'headers',
    );
  });

  it('missing task header (a protocol v1 message)', () => {
    const err = expectMalformed(raw(body, { task: undefined }), 'header "task"');
    expect(err.message).toContain('protocol v1');
    expectMalformed(raw(body, { task: '' }), 'header "task"');
  });

  it('missing id header', () => {
    expectMalformed(raw(body, { id: undefined }), 'header "id"');
  });

  it('a body that is not JSON', () => {
    const err = expectMalformed(raw('[[1, 2], {'), 'body');
    expect(err.cause).toBeInstanceOf(SyntaxError);
  });

  it.each([
    ['a mapping', { args: [], kwargs: {} }],
    ['a one-element list', [[]]],
    ['a four-element list', [[], {}, {}, {}]],
    ['a string', 'args'],
  ])('a body that is %s', (_what, bad) => {
    expectMalformed(raw(bad), 'body');
  });

  it('args that are not a list', () => {
    expectMalformed(raw([{ 0: 1 }, {}, EMBED]), 'body args');
  });

  it.each([
    ['a list', [1, 2]],
    ['null', null],
    ['a string', 'a=1'],
  ])('kwargs that are %s, not a mapping', (_what, kwargs) => {
    expectMalformed(raw([[], kwargs, EMBED]), 'body kwargs');
  });

  it.each([
    ['a list', []],
    ['a number', 5],
    ['a string', 'x'],
  ])('an embed that is %s', (_what, embed) => {
    expectMalformed(raw([[], {}, embed]), 'body embed');
  });

  it('a chain entry or chord that is not a signature', () => {
    const sig = {
      task: 'ok',
      args: [],
      kwargs: {},
      options: {},
      subtask_type: null,
      immutable: false,
    };
    expectMalformed(raw([[], {}, { ...EMBED, chain: [sig, { args: [] }] }]), 'embed "chain[1]"');
    expectMalformed(raw([[], {}, { ...EMBED, callbacks: sig }]), 'embed "callbacks"');
    expectMalformed(raw([[], {}, { ...EMBED, errbacks: ['tasks.x'] }]), 'embed "errbacks[0]"');
    expectMalformed(raw([[], {}, { ...EMBED, chord: 'tasks.x' }]), 'embed "chord"');
  });

  it.each([
    ['words', 'tomorrow'],
    ['a number', 1767323045],
    ['a date without time', '2026-01-02'],
  ])('an eta that is %s', (_what, eta) => {
    expectMalformed(raw(body, { eta }), 'header "eta"');
  });

  it('an expires that is not a date', () => {
    expectMalformed(raw(body, { expires: 'never' }), 'header "expires"');
  });

  it.each([
    ['a number', 30, 'header "timelimit"'],
    ['one element', [30], 'header "timelimit"'],
    ['three elements', [30, 20, 10], 'header "timelimit"'],
    ['a string hard limit', ['30', 20], 'header "timelimit[0]"'],
    ['a string soft limit', [30, 'x'], 'header "timelimit[1]"'],
  ])('a timelimit that is %s', (_what, timelimit, field) => {
    expectMalformed(raw(body, { timelimit }), field);
  });

  it('retries, group_index and string headers of the wrong type', () => {
    expectMalformed(raw(body, { retries: 'three' }), 'header "retries"');
    expectMalformed(raw(body, { group_index: '1' }), 'header "group_index"');
    expectMalformed(raw(body, { shadow: 5 }), 'header "shadow"');
    expectMalformed(raw(body, { parent_id: ['x'] }), 'header "parent_id"');
  });

  it.each(['application/x-python-serialize', 'application/x-yaml', 'application/data'])(
    'an unsupported content type (%s)',
    (contentType) => {
      const err = decodeError({ ...raw(body), contentType });
      expect(err.code).toBe('CELERIAC_ERR_UNSUPPORTED_CONTENT_TYPE');
      expect(err.message).toContain(contentType);
    },
  );
});
