import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { isCeleriacError } from './errors.js';
import {
  jsonSerializer,
  msgpackSerializer,
  parseIsoDate,
  serializerByName,
  serializerForContentType,
  toIsoWithOffset,
  type SerializerName,
} from './serializers.js';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

const json = (text: string): unknown => jsonSerializer.decode(Buffer.from(text, 'utf8'));

describe('toIsoWithOffset', () => {
  it("writes Python's isoformat with an explicit +00:00", () => {
    expect(toIsoWithOffset(new Date('2026-01-02T03:04:05.678Z'))).toBe(
      '2026-01-02T03:04:05.678000+00:00',
    );
    expect(toIsoWithOffset(new Date('2026-01-02T03:04:05.007Z'))).toBe(
      '2026-01-02T03:04:05.007000+00:00',
    );
    expect(toIsoWithOffset(new Date('2026-01-02T03:04:05Z'))).toBe('2026-01-02T03:04:05+00:00');
  });
});

describe('toIsoWithOffset beyond four-digit years', () => {
  it('keeps the whole year', () => {
    expect(toIsoWithOffset(new Date('+010000-01-01T00:00:00.000Z'))).toBe(
      '+010000-01-01T00:00:00+00:00',
    );
    expect(toIsoWithOffset(new Date('+010000-01-01T00:00:00.5Z'))).toBe(
      '+010000-01-01T00:00:00.500000+00:00',
    );
  });
});

describe('parseIsoDate', () => {
  it.each([
    ['2026-01-02T03:04:05.678901+00:00', '2026-01-02T03:04:05.678Z'],
    ['2026-01-02T03:04:05Z', '2026-01-02T03:04:05.000Z'],
    ['2026-01-02T05:04:05+02:00', '2026-01-02T03:04:05.000Z'],
    ['2026-01-01T22:04:05.5-05:00', '2026-01-02T03:04:05.500Z'],
    // Celery 5.2 writes naive UTC timestamps (date_done).
    ['2026-01-02T03:04:05.250000', '2026-01-02T03:04:05.250Z'],
    ['2026-01-02 03:04:05', '2026-01-02T03:04:05.000Z'],
  ])('parses %s', (text, iso) => {
    expect(parseIsoDate(text)?.toISOString()).toBe(iso);
  });

  it.each(['tomorrow', '', '2026-01-02', '2026-13-45T99:99:99', '1700000000'])(
    'returns null for %j',
    (text) => {
      expect(parseIsoDate(text)).toBeNull();
    },
  );
});

describe('jsonSerializer', () => {
  it('names its content type and encoding as kombu does', () => {
    expect(jsonSerializer.contentType).toBe('application/json');
    expect(jsonSerializer.contentEncoding).toBe('utf-8');
  });

  it('sends dates as ISO strings with +00:00, at any depth', () => {
    const d = new Date('2026-01-02T03:04:05.678Z');
    const text = jsonSerializer.encode([d, { when: d, list: [d] }]).toString('utf8');
    expect(JSON.parse(text)).toEqual([
      '2026-01-02T03:04:05.678000+00:00',
      { when: '2026-01-02T03:04:05.678000+00:00', list: ['2026-01-02T03:04:05.678000+00:00'] },
    ]);
    expect(jsonSerializer.encode(d).toString('utf8')).toBe('"2026-01-02T03:04:05.678000+00:00"');
  });

  it('sends Maps as objects, Sets as arrays and utf-8 bytes as text', () => {
    const value = {
      m: new Map([['a', 1]]),
      s: new Set([1, 2]),
      buf: Buffer.from('héllo', 'utf8'),
      u8: new Uint8Array([104, 105]),
    };
    expect(JSON.parse(jsonSerializer.encode(value).toString('utf8'))).toEqual({
      m: { a: 1 },
      s: [1, 2],
      buf: 'héllo',
      u8: 'hi',
    });
  });

  it('refuses bytes that are not utf-8', () => {
    const err = thrown(() => jsonSerializer.encode({ blob: Buffer.from([0xff, 0x00]) }));
    expect(isCeleriacError(err, 'CELERIAC_ERR_SERIALIZATION')).toBe(true);
    expect((err as Error).message).toContain('"blob"');
  });

  it('sends a safe bigint as a number and one beyond 2^53 as its digits, as Python does', () => {
    expect(jsonSerializer.encode({ n: 42n }).toString('utf8')).toBe('{"n":42}');
    expect(jsonSerializer.encodeText({ big: 2n ** 64n, neg: -(2n ** 60n) })).toBe(
      '{"big":18446744073709551616,"neg":-1152921504606846976}',
    );
    // A string that merely looks like the marker stays a string.
    expect(jsonSerializer.encodeText(['celeriac:raw:1', 2n ** 64n])).toBe(
      '["celeriac:raw:1",18446744073709551616]',
    );
  });

  it("writes NaN and ±Infinity as Python's json.dumps does, and reads them back", () => {
    const text = jsonSerializer.encodeText([Number.NaN, Infinity, -Infinity, { x: Number.NaN }]);
    expect(text).toBe('[NaN,Infinity,-Infinity,{"x":NaN}]');
    expect(jsonSerializer.decode(Buffer.from(text))).toEqual([
      Number.NaN,
      Infinity,
      -Infinity,
      { x: Number.NaN },
    ]);
  });

  it('reads integers beyond 2^53 losslessly as BigInt, smaller ones as numbers', () => {
    const body = '[[18446744073709551616, 9007199254740993, -9007199254740993, 12, 1e20], {}, {}]';
    expect(jsonSerializer.decode(Buffer.from(body))).toEqual([
      [2n ** 64n, 2n ** 53n + 1n, -(2n ** 53n + 1n), 12, 1e20],
      {},
      {},
    ]);
    // kombu's markers are still revived on the lossless path.
    const marked =
      '{"n": 12345678901234567890, "at": {"__type__": "datetime", "__value__": "2026-01-02T03:04:05+00:00"}}';
    expect(jsonSerializer.decode(Buffer.from(marked))).toEqual({
      n: 12345678901234567890n,
      at: new Date('2026-01-02T03:04:05Z'),
    });
  });

  it('wraps other encoding failures in a serialization error', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    const err = thrown(() => jsonSerializer.encode(cyclic));
    expect(isCeleriacError(err, 'CELERIAC_ERR_SERIALIZATION')).toBe(true);
    expect((err as Error).cause).toBeInstanceOf(TypeError);
  });

  describe("decodes kombu's {__type__, __value__} markers", () => {
    it('datetime as a Date', () => {
      const v = json('[{"__type__": "datetime", "__value__": "2026-01-02T03:04:05.678901+02:00"}]');
      expect(v).toEqual([new Date('2026-01-02T01:04:05.678Z')]);
    });

    it('bytes and base64 as Buffers', () => {
      expect(json('{"__type__": "bytes", "__value__": "hi"}')).toEqual(Buffer.from('hi'));
      expect(json('{"__type__": "base64", "__value__": "/wD+"}')).toEqual(
        Buffer.from([0xff, 0, 0xfe]),
      );
    });

    it('date, time and decimal as strings', () => {
      expect(
        json(
          '{"d": {"__type__": "date", "__value__": "2026-01-02"},' +
            ' "t": {"__type__": "time", "__value__": "13:14:15"},' +
            ' "n": {"__type__": "decimal", "__value__": "12.50"}}',
        ),
      ).toEqual({ d: '2026-01-02', t: '13:14:15', n: '12.50' });
    });

    it('uuid in both kombu forms ({hex} and {hex, version}) as a canonical string', () => {
      const canonical = '0b9f6a1e-3c2d-4e5f-8a7b-6c5d4e3f2a10';
      expect(
        json('{"__type__": "uuid", "__value__": {"hex": "0B9F6A1E3C2D4E5F8A7B6C5D4E3F2A10"}}'),
      ).toBe(canonical);
      expect(
        json(
          '{"__type__": "uuid", "__value__": {"hex": "0b9f6a1e3c2d4e5f8a7b6c5d4e3f2a10", "version": 4}}',
        ),
      ).toBe(canonical);
    });

    it('leaves unknown or malformed markers and look-alikes untouched', () => {
      const unknown = { __type__: 'frozenset', __value__: [1] };
      expect(json(JSON.stringify(unknown))).toEqual(unknown);
      const extra = { __type__: 'datetime', __value__: '2026-01-02T03:04:05', other: 1 };
      expect(json(JSON.stringify(extra))).toEqual(extra);
      const badUuid = { __type__: 'uuid', __value__: { hex: 'nope' } };
      expect(json(JSON.stringify(badUuid))).toEqual(badUuid);
      const badDate = { __type__: 'datetime', __value__: 'not a date' };
      expect(json(JSON.stringify(badDate))).toBe('not a date');
    });
  });

  it('refuses functions and symbols instead of dropping them', () => {
    for (const value of [{ f: () => 1 }, [Symbol('s')], () => 2]) {
      expect(() => jsonSerializer.encode(value)).toThrow(
        expect.objectContaining({ code: 'CELERIAC_ERR_SERIALIZATION' }) as Error,
      );
    }
  });

  it('writes plain values exactly as JSON.stringify, and special ones through the replacer', () => {
    const plain = [
      null,
      [1, 'two', { three: [true, false, null] }, -0, 1.5e300],
      { a: undefined, b: [undefined], c: 'é"\\\n', d: Object.create(null) as object },
      { status: 'SUCCESS', result: null, traceback: null, children: [], task_id: 'x' },
    ];
    for (const v of plain) expect(jsonSerializer.encodeText(v)).toBe(JSON.stringify(v));
    // Anything else takes the replacer, nested or not.
    const d = new Date('2026-01-02T03:04:05.678Z');
    expect(jsonSerializer.encodeText({ deep: [{ when: d }] })).toBe(
      '{"deep":[{"when":"2026-01-02T03:04:05.678000+00:00"}]}',
    );
    expect(jsonSerializer.encodeText({ n: 5n })).toBe('{"n":5}');
    expect(jsonSerializer.encodeText({ m: new Map([['k', 1]]) })).toBe('{"m":{"k":1}}');
    expect(jsonSerializer.encodeText({ t: { toJSON: () => 'custom' } })).toBe('{"t":"custom"}');
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(isCeleriacError(thrown(() => jsonSerializer.encodeText(cyclic)))).toBe(true);
    expect(jsonSerializer.encode([1, 'x']).toString('utf8')).toBe('[1,"x"]');
  });

  it('decodes from a view into a larger buffer', () => {
    const whole = Buffer.from('xx[1,2]yy', 'utf8');
    expect(jsonSerializer.decode(whole.subarray(2, 7))).toEqual([1, 2]);
  });
});

const PYTHON = process.env['CELERIAC_PYTHON'] ?? '/usr/bin/python3';
// CI installs python3-msgpack (.ci/run); a missing one is a failure with a hint, never a skip.
function requirePythonMsgpack(): void {
  const ok =
    existsSync(PYTHON) &&
    spawnSync(PYTHON, ['-c', 'import msgpack'], { stdio: 'ignore' }).status === 0;
  if (!ok) throw new Error(`${PYTHON} cannot import msgpack: apt-get install -y python3-msgpack`);
}

describe('msgpackSerializer', () => {
  const sample = {
    n: 2n ** 60n,
    neg: -(2n ** 60n),
    safe: 2 ** 53 - 1,
    when: new Date('2026-01-02T03:04:05.678Z'),
    list: [1, 'two', null, true, 2.5],
    bin: Buffer.from([0, 1]),
    nested: { m: new Map([['k', new Set(['v'])]]) },
  };

  it('names its content type and encoding as kombu does', () => {
    expect(msgpackSerializer.contentType).toBe('application/x-msgpack');
    expect(msgpackSerializer.contentEncoding).toBe('binary');
  });

  it('writes plain msgpack maps, without the records extension', () => {
    const bytes = [...msgpackSerializer.encode([{ a: 1 }, { a: 2 }])];
    // fixarray(2), then each object as a map (fixmap or map16) with key "a": no 0xd4 record ext.
    expect([
      [0x92, 0x81, 0xa1, 0x61, 0x01, 0x81, 0xa1, 0x61, 0x02],
      [0x92, 0xde, 0, 1, 0xa1, 0x61, 0x01, 0xde, 0, 1, 0xa1, 0x61, 0x02],
    ]).toContainEqual(bytes);
  });

  it('is read by a plain msgpack decoder, with dates as ISO strings', () => {
    const plain = unpack(msgpackSerializer.encode(sample)) as Record<string, unknown>;
    expect(plain['when']).toBe('2026-01-02T03:04:05.678000+00:00');
    expect(plain['list']).toEqual([1, 'two', null, true, 2.5]);
    expect(plain['nested']).toEqual({ m: { k: ['v'] } });
    expect(Buffer.from(plain['bin'] as Uint8Array)).toEqual(Buffer.from([0, 1]));
  });

  it('round-trips integers beyond 2^53 as BigInt and smaller ones as numbers', () => {
    const back = msgpackSerializer.decode(msgpackSerializer.encode(sample)) as Record<
      string,
      unknown
    >;
    expect(back['n']).toBe(2n ** 60n);
    expect(back['neg']).toBe(-(2n ** 60n));
    expect(back['safe']).toBe(2 ** 53 - 1);
    expect(typeof back['safe']).toBe('number');
  });

  it('writes integers beyond 32 bits as msgpack int64, not float64', () => {
    // A millisecond timestamp: as a float64 (0xcb) Python would see 1767323045678.0.
    for (const n of [1767323045678, -(2 ** 40), 2 ** 53 - 1]) {
      const bytes = msgpackSerializer.encode(n);
      expect(bytes[0], String(n)).toBe(0xd3);
      expect(msgpackSerializer.decode(bytes)).toBe(n);
    }
    expect(msgpackSerializer.encode(2.5)[0]).toBe(0xcb);
    expect(msgpackSerializer.encode(2 ** 32 - 1)[0]).toBe(0xce);
  });

  it('does not mutate the value it encodes', () => {
    const value = { when: new Date(0), list: [new Date(0)] };
    msgpackSerializer.encode(value);
    expect(value.when).toBeInstanceOf(Date);
    expect(value.list[0]).toBeInstanceOf(Date);
  });

  it("is read by Python's msgpack as kombu reads it", () => {
    requirePythonMsgpack();
    const script =
      'import msgpack, sys; print(repr(msgpack.unpackb(sys.stdin.buffer.read(), raw=False)))';
    const out = spawnSync(PYTHON, ['-c', script], { input: msgpackSerializer.encode(sample) });
    expect(out.stderr.toString()).toBe('');
    expect(out.stdout.toString().trim()).toBe(
      "{'n': 1152921504606846976, 'neg': -1152921504606846976, 'safe': 9007199254740991, " +
        "'when': '2026-01-02T03:04:05.678000+00:00', 'list': [1, 'two', None, True, 2.5], " +
        "'bin': b'\\x00\\x01', 'nested': {'m': {'k': ['v']}}}",
    );
  });

  it("decodes what Python's msgpack writes, big integers included", () => {
    requirePythonMsgpack();
    const script =
      'import msgpack, sys; sys.stdout.buffer.write(msgpack.packb(' +
      "{'big': 2**62, 'small': -3, 'f': 0.5, 's': 'två', 'b': b'\\x01', 'l': [None, True]}, use_bin_type=True))";
    const out = spawnSync(PYTHON, ['-c', script]);
    expect(out.status).toBe(0);
    const value = msgpackSerializer.decode(out.stdout) as Record<string, unknown>;
    expect(value['big']).toBe(2n ** 62n);
    expect(value['small']).toBe(-3);
    expect(value['f']).toBe(0.5);
    expect(value['s']).toBe('två');
    expect(Buffer.from(value['b'] as Uint8Array)).toEqual(Buffer.from([1]));
    expect(value['l']).toEqual([null, true]);
  });
});

describe('serializer lookup', () => {
  it.each([
    ['application/json', 'json'],
    [' Application/JSON ', 'json'],
    ['application/x-msgpack', 'msgpack'],
    ['application/msgpack', 'msgpack'],
  ])('finds %j', (contentType, name) => {
    expect(serializerForContentType(contentType).name).toBe(name);
  });

  it.each(['application/x-python-serialize', 'application/x-yaml', 'text/plain', ''])(
    'refuses %j with CELERIAC_ERR_UNSUPPORTED_CONTENT_TYPE',
    (contentType) => {
      const err = thrown(() => serializerForContentType(contentType));
      expect(isCeleriacError(err, 'CELERIAC_ERR_UNSUPPORTED_CONTENT_TYPE')).toBe(true);
      expect((err as { details: unknown }).details).toEqual({ contentType });
    },
  );

  it('finds serializers by name and refuses unknown names', () => {
    expect(serializerByName('json')).toBe(jsonSerializer);
    expect(serializerByName('msgpack')).toBe(msgpackSerializer);
    const err = thrown(() => serializerByName('pickle' as SerializerName));
    expect(isCeleriacError(err, 'CELERIAC_ERR_INVALID_OPTION')).toBe(true);
  });
});
