import { describe, expect, it } from 'vitest';
import { silentLogger, type BrokerMessage, type ControlChannel } from '@celeriac/core';
import { EventSender, jsonText } from './event.js';

/** A control channel that keeps what is broadcast. */
function recordingChannel(): { channel: ControlChannel; sent: { key: string; body: unknown }[] } {
  const sent: { key: string; body: unknown }[] = [];
  const channel = {
    broadcast: (_exchange: string, m: BrokerMessage, route?: { routingKey?: string }) => {
      sent.push({ key: route?.routingKey ?? '', body: JSON.parse(m.body.toString('utf8')) });
      return Promise.resolve();
    },
  } as unknown as ControlChannel;
  return { channel, sent };
}

describe('jsonText', () => {
  it('writes every string as JSON.stringify does, and null for none', () => {
    for (const s of [
      'plain',
      'a "quote"',
      'back\\slash',
      'new\nline',
      '\u0001',
      '\ud800',
      '😀',
      '',
    ])
      expect(JSON.parse(jsonText(s))).toBe(s);
    expect(jsonText(null)).toBe('null');
    expect(jsonText(undefined)).toBe('null');
  });
});

describe('EventSender', () => {
  it("sends a buffered group's events of one tick as one list on <group>.multi, each complete", async () => {
    const { channel, sent } = recordingChannel();
    const sender = new EventSender(channel, {
      hostname: 'celeriac@h "1"',
      logger: silentLogger,
      bufferGroups: ['task'],
    });
    sender.sendMembers('task-started', `"uuid":${jsonText('id-1')}`);
    sender.send('task-failed', { uuid: 'id-2', exception: "Error('x\"y')", traceback: 'a\nb' });
    sender.sendMembers('task-started', '');
    sender.send('worker-heartbeat', { freq: 2, loadavg: [0.1, 0.2, 0.3] });
    await sender.drain();
    expect(sent.map((s) => s.key)).toEqual(['worker.heartbeat', 'task.multi']);
    const list = sent[1]!.body as Record<string, unknown>[];
    expect(list.map((e) => [e['type'], e['uuid']])).toEqual([
      ['task-started', 'id-1'],
      ['task-failed', 'id-2'],
      ['task-started', undefined],
    ]);
    expect(list[1]).toMatchObject({ exception: "Error('x\"y')", traceback: 'a\nb' });
    const clocks = [sent[0]!.body, ...list].map((e) => (e as { clock: number }).clock);
    expect(new Set(clocks).size).toBe(4);
    for (const e of list) {
      expect(e).toMatchObject({ hostname: 'celeriac@h "1"', pid: process.pid });
      expect(typeof e['timestamp']).toBe('number');
      expect(typeof e['utcoffset']).toBe('number');
    }
  });

  it('drops an event whose fields cannot be written, and goes on', async () => {
    const { channel, sent } = recordingChannel();
    const sender = new EventSender(channel, { hostname: 'h', logger: silentLogger });
    sender.send('worker-heartbeat', { n: 1n });
    sender.send('worker-heartbeat', { n: 1 });
    await sender.drain();
    expect(sent).toHaveLength(1);
  });
});
