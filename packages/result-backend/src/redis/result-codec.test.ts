import { spawnSync } from 'node:child_process';
import { buildResultDocument, isCeleriacError, msgpackSerializer } from '@celeriac/core';
import { PYTHON } from '@celeriac/testing';
import { describe, expect, it } from 'vitest';
import { decodeResult, encodeResult, resultFormat } from './result-codec.js';

const bytes = (...b: number[]): Buffer => Buffer.from(b);

describe('resultFormat', () => {
  it('reads a JSON object, after JSON whitespace, as JSON', () => {
    expect(resultFormat(Buffer.from('{"status":"SUCCESS"}'))).toBe('json');
    expect(resultFormat(Buffer.from(' \t\r\n{"status":"SUCCESS"}'))).toBe('json');
  });

  it('reads every msgpack map header as msgpack', () => {
    for (let b = 0x80; b <= 0x8f; b++) expect(resultFormat(bytes(b))).toBe('msgpack');
    expect(resultFormat(bytes(0xde, 0, 1))).toBe('msgpack');
    expect(resultFormat(bytes(0xdf, 0, 0, 0, 1))).toBe('msgpack');
  });

  it('refuses what is neither, never guessing', () => {
    const neither = [
      Buffer.from('[1, 2]'),
      Buffer.from('"SUCCESS"'),
      Buffer.from('  '),
      Buffer.alloc(0),
      Buffer.from('\uFEFF{"status":"SUCCESS"}'), // a byte-order mark: Python never writes one
      bytes(0x20, 0x81), // whitespace before a msgpack map
      bytes(0x93, 1, 2, 3), // a msgpack array
      bytes(0xa7), // a msgpack string
      bytes(0xc2, 0x80), // UTF-8 of U+0080
    ];
    for (const b of neither) expect(resultFormat(b)).toBeUndefined();
  });

  it('no byte starts both: the JSON start bytes are never a msgpack map and the reverse', () => {
    const json = [0x20, 0x09, 0x0a, 0x0d, 0x7b];
    const msgpack = [...Array.from({ length: 16 }, (_, i) => 0x80 + i), 0xde, 0xdf];
    expect(json.filter((b) => msgpack.includes(b))).toEqual([]);
    // What core's msgpack writes for every document shape starts with a map byte.
    const doc = buildResultDocument({ taskId: 't', status: 'SUCCESS', result: 1 });
    expect(resultFormat(msgpackSerializer.encode(doc))).toBe('msgpack');
    const wide = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i]));
    expect(resultFormat(msgpackSerializer.encode({ ...doc, ...wide }))).toBe('msgpack');
  });
});

describe('encodeResult / decodeResult', () => {
  const docs = [
    buildResultDocument({
      taskId: 'a',
      status: 'SUCCESS',
      result: { sum: 5, items: [1, 'two', null, 2.5], big: 2 ** 40 },
      children: [[['c1', null], null]],
      dateDone: new Date('2026-03-04T05:06:07.890Z'),
      groupId: 'g',
      parentId: 'p',
    }),
    buildResultDocument({
      taskId: 'b',
      status: 'FAILURE',
      result: { exc_type: 'ValueError', exc_message: ['bad'], exc_module: 'builtins' },
      traceback: 'Traceback (most recent call last):\nValueError: bad\n',
      dateDone: new Date('2026-03-04T05:06:07Z'),
    }),
    buildResultDocument({
      taskId: 'c',
      status: 'RETRY',
      result: { exc_type: 'Retry', exc_message: ['later'], exc_module: 'celery.exceptions' },
    }),
    buildResultDocument({ taskId: 'd', status: 'PROGRESS', result: { current: 3, total: 10 } }),
  ];

  it.each(docs.map((d) => [d.status, d] as const))(
    'a %s document reads back the same from msgpack as from JSON',
    (_status, doc) => {
      const json = encodeResult(doc, 'json');
      const msgpack = encodeResult(doc, 'msgpack');
      expect(typeof json).toBe('string');
      expect(Buffer.isBuffer(msgpack)).toBe(true);
      const fromJson = decodeResult(Buffer.from(json), 'k');
      expect(decodeResult(msgpack as Buffer, 'k')).toEqual(fromJson);
      expect(fromJson).toEqual(doc);
    },
  );

  it('fills children: null (Celery outside a task) with a list, in both formats', () => {
    const doc = { status: 'SUCCESS', result: 1, traceback: null, children: null, task_id: 'x' };
    expect(decodeResult(msgpackSerializer.encode(doc), 'k').children).toEqual([]);
    expect(decodeResult(Buffer.from(JSON.stringify(doc)), 'k').children).toEqual([]);
  });

  it('refuses a value that is neither, a broken one and a map without status', () => {
    for (const payload of [
      Buffer.from('not json'),
      bytes(0x81, 0xa1), // a map header and a truncated key
      msgpackSerializer.encode({ result: 1 }),
    ]) {
      let caught: unknown;
      try {
        decodeResult(payload, 'celery-task-meta-x');
      } catch (err) {
        caught = err;
      }
      expect(isCeleriacError(caught, 'CELERIAC_ERR_SERIALIZATION')).toBe(true);
      expect((caught as Error).message).toContain('celery-task-meta-x');
    }
  });

  it("reads what Python Celery's backend encodes with msgpack exactly as its JSON", () => {
    // kombu's msgpack: packb(use_bin_type=True); Celery's meta as _get_result_meta builds it.
    const script = String.raw`
import sys, json
from kombu.serialization import dumps
meta = {'status': 'FAILURE',
        'result': {'exc_type': 'KeyError', 'exc_message': ('missing',), 'exc_module': 'builtins'},
        'traceback': 'Traceback (most recent call last):\nKeyError: missing\n',
        'children': [(('c1', None), None)], 'date_done': '2026-03-04T05:06:07.890123',
        'task_id': 't1', 'parent_id': 'p1', 'big': 2**60}
sys.stdout.buffer.write(dumps(meta, serializer=sys.argv[1])[2] if sys.argv[1] == 'msgpack'
                        else dumps(meta, serializer='json')[2].encode())
`;
    const run = (serializer: string): Buffer => {
      const out = spawnSync(PYTHON, ['-c', script, serializer]);
      if (out.status !== 0) throw new Error(out.stderr.toString());
      return out.stdout;
    };
    const msgpack = run('msgpack');
    const json = run('json');
    expect(resultFormat(msgpack)).toBe('msgpack');
    const fromMsgpack = decodeResult(msgpack, 'k');
    expect(fromMsgpack).toEqual(decodeResult(json, 'k'));
    expect(fromMsgpack).toMatchObject({
      status: 'FAILURE',
      result: { exc_type: 'KeyError', exc_message: ['missing'] },
      children: [[['c1', null], null]],
      date_done: '2026-03-04T05:06:07.890123',
      big: 2n ** 60n,
    });
  });
});
