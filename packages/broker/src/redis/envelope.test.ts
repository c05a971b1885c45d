import { describe, expect, it } from 'vitest';
import { isCeleriacError, ErrorCodes, type BrokerMessage } from '@celeriac/core';
import { buildEnvelope, markRedelivered, parseEnvelope, textEnvelopeJson } from './envelope.js';

const message: BrokerMessage = {
  body: Buffer.from([0, 1, 2, 255]),
  contentType: 'application/x-msgpack',
  contentEncoding: 'binary',
  headers: { task: 't', id: 'i1', nested: { empty: [] } },
  properties: { correlation_id: 'i1', reply_to: '', delivery_mode: 2, priority: 6, extra: 'kept' },
};

describe('kombu envelope', () => {
  it('is built in kombu key order, through the anonymous exchange, with the tag given', () => {
    const { json, tag } = buildEnvelope('q1', message, 'tag-1');
    expect(tag).toBe('tag-1');
    expect(json).toBe(
      JSON.stringify({
        body: Buffer.from([0, 1, 2, 255]).toString('base64'),
        'content-encoding': 'binary',
        'content-type': 'application/x-msgpack',
        headers: { task: 't', id: 'i1', nested: { empty: [] } },
        properties: {
          correlation_id: 'i1',
          reply_to: '',
          delivery_mode: 2,
          extra: 'kept',
          delivery_info: { exchange: '', routing_key: 'q1' },
          priority: 6,
          body_encoding: 'base64',
          delivery_tag: 'tag-1',
        },
      }),
    );
  });

  it('is byte for byte JSON.stringify of the envelope object, whatever the properties', () => {
    // The envelope as an object, stringified: what buildEnvelope assembles by hand.
    const reference = (queue: string, m: BrokerMessage, tag: string): string => {
      const {
        delivery_info: _di,
        body_encoding: _be,
        delivery_tag: _dt,
        priority,
        ...rest
      } = m.properties;
      return JSON.stringify({
        body: m.body.toString('base64'),
        'content-encoding': m.contentEncoding,
        'content-type': m.contentType,
        headers: m.headers,
        properties: {
          ...rest,
          delivery_info: { exchange: '', routing_key: queue },
          priority: typeof priority === 'number' ? priority : 0,
          body_encoding: 'base64',
          delivery_tag: tag,
        },
      });
    };
    const variants: BrokerMessage['properties'][] = [
      {},
      { correlation_id: 'c', reply_to: '', delivery_mode: 2 },
      { priority: 3 },
      { priority: '7' as unknown as number, correlation_id: 'x' },
      { priority: Number.NaN },
      { correlation_id: 'c', missing: undefined, nested: { a: [1, { b: null }] } },
      {
        delivery_info: { exchange: 'old', routing_key: 'old' },
        body_encoding: 'utf8',
        delivery_tag: 'old',
        reply_to: 'r',
      },
      { 'we"ird\\key': 'välue\n\u2028' },
    ];
    for (const properties of variants) {
      for (const queue of ['q', 'q"uote\\d', 'ünï']) {
        const m: BrokerMessage = {
          ...message,
          contentType: 'application/"json"',
          headers: { a: 'é', nested: { empty: [], s: '"\\' }, none: null },
          properties,
        };
        expect(buildEnvelope(queue, m, 'tag"1').json).toBe(reference(queue, m, 'tag"1'));
      }
    }
  });

  it('refuses headers JSON cannot carry with SERIALIZATION', () => {
    let err: unknown;
    try {
      buildEnvelope('q', { ...message, headers: { big: 1n } });
    } catch (e) {
      err = e;
    }
    expect(isCeleriacError(err, ErrorCodes.SERIALIZATION)).toBe(true);
  });

  it('keeps the parsed headers when there is no redelivered marker to drop', () => {
    const parsed = parseEnvelope(buildEnvelope('q', message).json);
    expect(parsed.message.headers).toBe(parsed.envelope.headers);
  });

  it('defaults priority to 0 as kombu prepare_message does, and picks a uuid tag', () => {
    const { json, tag } = buildEnvelope('q', { ...message, properties: {} });
    expect(tag).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.parse(json)).toMatchObject({ properties: { priority: 0, delivery_tag: tag } });
  });

  it('parses back to the message, keeping transport fields out of the properties', () => {
    const parsed = parseEnvelope(buildEnvelope('q', message).json);
    expect(parsed.redelivered).toBe(false);
    expect(parsed.message.body.equals(message.body)).toBe(true);
    expect(parsed.message.headers).toEqual(message.headers);
    expect(parsed.message.properties).toEqual(message.properties);
  });

  it('marks redelivered where kombu does, and surfaces it as a flag only', () => {
    const again = markRedelivered(buildEnvelope('q', message).json);
    const raw = JSON.parse(again) as {
      headers: Record<string, unknown>;
      properties: { delivery_info: Record<string, unknown> };
    };
    expect(raw.headers['redelivered']).toBe(true);
    expect(raw.properties.delivery_info['redelivered']).toBe(true);
    const parsed = parseEnvelope(again);
    expect(parsed.redelivered).toBe(true);
    expect(parsed.message.headers).toEqual(message.headers);
  });

  it('reads a body without body_encoding as utf-8 text', () => {
    const parsed = parseEnvelope(
      JSON.stringify({ body: 'héllo', headers: {}, properties: { delivery_tag: 'x' } }),
    );
    expect(parsed.message.body.toString('utf8')).toBe('héllo');
  });

  it('carries a text body as a JSON string with no body_encoding, and reads it back', () => {
    const text = '[{"type":"task-started","uuid":"a\\"b","name":"héllo\\n"}]';
    const raw = textEnvelopeJson('celeryev', text, {
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      headers: { hostname: 'w@h' },
      properties: { delivery_mode: 1 },
    });
    const envelope = JSON.parse(raw) as { body: unknown; properties: Record<string, unknown> };
    expect(envelope.body).toBe(text);
    expect('body_encoding' in envelope.properties).toBe(false);
    expect(envelope.properties['delivery_info']).toEqual({ exchange: '', routing_key: 'celeryev' });
    const parsed = parseEnvelope(raw);
    expect(parsed.message.body.toString('utf8')).toBe(text);
    expect(parsed.message.headers).toEqual({ hostname: 'w@h' });
    expect(parsed.message.contentType).toBe('application/json');
  });

  it('rejects what is not an envelope with MALFORMED_MESSAGE', () => {
    for (const raw of ['not json', '[1,2]', '{"body":"x"}', '{"properties":{},"body":7}']) {
      let err: unknown;
      try {
        parseEnvelope(raw);
      } catch (e) {
        err = e;
      }
      expect(isCeleriacError(err, ErrorCodes.MALFORMED_MESSAGE), raw).toBe(true);
    }
  });
});
