import { describe, expect, it } from 'vitest';
import { NonRetryableError, Retry, SoftTimeLimitExceeded } from '@celeriac/client';
import { TaskError } from '@celeriac/core';
import { exceptionToDocument } from '@celeriac/core/internal';
import { rebuildThrown, serializeThrown } from './protocol.js';

/** What crosses the channel: a structured clone, as postMessage and advanced IPC make. */
function cross(thrown: unknown, classes: readonly unknown[] = []): unknown {
  return rebuildThrown(structuredClone(serializeThrown(thrown)), classes);
}

class ConnectionError extends Error {
  override name = 'ConnectionError';
}
class Fatal extends ConnectionError {
  readonly code = 'E_FATAL';
}

describe('errors across the pool channel', () => {
  it('a Retry comes back as a Retry with its options and its error', () => {
    const eta = new Date('2026-01-01T00:00:00Z');
    const back = cross(new Retry({ eta, maxRetries: null, exc: new ConnectionError('down') }), [
      ConnectionError,
    ]);
    expect(back).toBeInstanceOf(Retry);
    const o = (back as Retry).options;
    expect(o.eta).toEqual(eta);
    expect(o.maxRetries).toBeNull();
    expect(o.exc).toBeInstanceOf(ConnectionError);
    expect((o.exc as Error).message).toBe('down');
    expect((cross(new Retry({ countdown: 5 })) as Retry).options).toEqual({ countdown: 5 });
  });

  it('an error keeps its name, message, stack, module and fields; instanceof follows its class chain', () => {
    const original = new Fatal('boom');
    const back = cross(original, [ConnectionError]) as Error;
    expect(back).toBeInstanceOf(ConnectionError); // the most specific class the task named
    expect(back).not.toBeInstanceOf(Fatal);
    expect([back.name, back.message, back.stack]).toEqual([
      'ConnectionError',
      'boom',
      original.stack,
    ]);
    expect((back as unknown as { code: string }).code).toBe('E_FATAL');
    expect(exceptionToDocument(back)).toEqual(exceptionToDocument(original));
    expect(cross(new Fatal('x'), [ConnectionError, Fatal])).toBeInstanceOf(Fatal);
  });

  it("Celeriac's and JavaScript's own errors come back as themselves", () => {
    const soft = cross(new SoftTimeLimitExceeded(2));
    expect(soft).toBeInstanceOf(SoftTimeLimitExceeded);
    expect(exceptionToDocument(soft)).toEqual(exceptionToDocument(new SoftTimeLimitExceeded(2)));
    class Stop extends NonRetryableError {}
    expect(cross(new Stop('no'))).toBeInstanceOf(NonRetryableError);
    expect(cross(new RangeError('r'))).toBeInstanceOf(RangeError);
  });

  it('a TaskError keeps its remote type; causes and thrown non-errors cross too', () => {
    const remote = new TaskError({
      type: 'ValueError',
      module: 'builtins',
      args: ['bad'],
      traceback: 'Traceback ...',
    });
    const back = cross(remote);
    expect(back).toBeInstanceOf(TaskError);
    expect(exceptionToDocument(back)).toEqual({
      exc_type: 'ValueError',
      exc_message: ['bad'],
      exc_module: 'builtins',
    });
    const withCause = cross(new Error('outer', { cause: new TypeError('inner') })) as Error;
    expect(withCause.cause).toBeInstanceOf(TypeError);
    expect(cross('a string')).toBe('a string');
    expect(cross({ code: 7 })).toEqual({ code: 7 });
    expect(cross(Symbol('s'))).toBe('Symbol(s)');
  });
});
