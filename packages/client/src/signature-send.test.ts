import { describe, expect, it } from 'vitest';
import { normalizeSignature } from '@celeriac/core';
import { signatureSend } from './task-message.js';

describe('signatureSend: a signature dict as Celery options → a send', () => {
  const errback = normalizeSignature({ task: 'py.on_error' });

  it('maps every Celery option a chain step carries', () => {
    const sig = normalizeSignature({
      task: 'py.mul',
      args: [10],
      options: {
        task_id: 'id-1',
        reply_to: 'py-reply',
        expires: 60,
        time_limit: 30,
        soft_time_limit: 20,
        link_error: [errback],
        priority: 3,
        queue: 'q1',
        countdown: 5,
        shadow: 's',
        ignore_result: true,
        group_id: 'own-group',
        group_index: 2,
      },
    });
    const { args, apply, embed } = signatureSend(sig, {
      parentResult: 3,
      parentId: 'p',
      rootId: 'r',
      groupId: 'other-group',
    });
    expect(args).toEqual([3, 10]);
    expect(apply).toEqual({
      taskId: 'id-1',
      queue: 'q1',
      priority: 3,
      countdown: 5,
      expires: 60,
      timeLimit: 30,
      softTimeLimit: 20,
      shadow: 's',
      ignoreResult: true,
      parentId: 'p',
      rootId: 'r',
    });
    // Celery keeps a signature's own group_id (an immutable option).
    expect(embed).toEqual({
      errbacks: [errback],
      groupId: 'own-group',
      groupIndex: 2,
      replyTo: 'py-reply',
    });
  });

  it('keeps an immutable signature`s args, routes by routing_key without an exchange', () => {
    const sig = normalizeSignature({
      task: 't',
      args: [1],
      immutable: true,
      options: { routing_key: 'rk', eta: '2030-01-01T00:00:00+00:00' },
    });
    const { args, apply } = signatureSend(sig, { parentResult: 'ignored' });
    expect(args).toEqual([1]);
    expect(apply).toEqual({ queue: 'rk', eta: '2030-01-01T00:00:00+00:00' });
    const named = normalizeSignature({ task: 't', options: { routing_key: 'rk', exchange: 'x' } });
    expect(signatureSend(named, {}).apply.queue).toBeUndefined();
  });
});
