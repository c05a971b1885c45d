import { describe, expect, it } from 'vitest';
import { CeleriacError, isCeleriacError } from './errors.js';
import { exceptionToDocument, isExceptionDocument, TaskError, tracebackOf } from './task-error.js';

describe('TaskError', () => {
  it('is a CeleriacError with code CELERIAC_ERR_TASK_FAILED and the remote type', () => {
    const err = new TaskError({ type: 'ValueError', module: 'builtins', message: 'bad input' });
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(CeleriacError);
    expect(isCeleriacError(err, 'CELERIAC_ERR_TASK_FAILED')).toBe(true);
    expect(err.name).toBe('TaskError');
    expect(err.message).toBe('ValueError: bad input');
    expect(err.args).toEqual(['bad input']);
    expect(err.details).toEqual({ type: 'ValueError', module: 'builtins' });
    expect(err.traceback).toBeNull();
    expect(err.taskId).toBeUndefined();
  });

  it('defaults: no module, no args', () => {
    const err = new TaskError({ type: 'Boom' });
    expect(err.module).toBeNull();
    expect(err.args).toEqual([]);
    expect(err.message).toBe('Boom: ');
  });

  it.each([
    [[], ''],
    [['division by zero'], 'division by zero'],
    [[42], '42'],
    [[null], 'None'],
    [[['a', 1]], "['a', 1]"],
    [[{ k: true }], "{'k': True}"],
    [['quota exceeded', 42], "('quota exceeded', 42)"],
    [["it's", null, false], '("it\'s", None, False)'],
  ])("renders args %j as Python's str(exc): %s", (args, text) => {
    const err = new TaskError({ type: 'E', args });
    expect(err.remoteMessage).toBe(text);
    expect(err.message).toBe(`E: ${text}`);
  });

  it('keeps an explicit message beside the args', () => {
    const err = new TaskError({ type: 'E', args: [1, 2], message: 'custom' });
    expect(err.message).toBe('E: custom');
    expect(err.remoteMessage).toBe('(1, 2)');
  });

  it('carries the cause', () => {
    const cause = new Error('root');
    expect(new TaskError({ type: 'E', cause }).cause).toBe(cause);
  });

  describe('fromDocument', () => {
    it("reads Celery's exception document, traceback and task id", () => {
      const err = TaskError.fromDocument(
        {
          exc_type: 'ZeroDivisionError',
          exc_message: ['division by zero'],
          exc_module: 'builtins',
        },
        'Traceback (most recent call last):\n...',
        'task-1',
      );
      expect(err.type).toBe('ZeroDivisionError');
      expect(err.module).toBe('builtins');
      expect(err.args).toEqual(['division by zero']);
      expect(err.message).toBe('ZeroDivisionError: division by zero');
      expect(err.traceback).toBe('Traceback (most recent call last):\n...');
      expect(err.taskId).toBe('task-1');
    });

    it('accepts exc_message as a bare string (older Celery) or missing', () => {
      expect(
        TaskError.fromDocument({ exc_type: 'E', exc_message: 'flat', exc_module: null }).args,
      ).toEqual(['flat']);
      expect(
        TaskError.fromDocument({ exc_type: 'E', exc_message: null, exc_module: null }).args,
      ).toEqual([]);
    });

    it('round-trips through toDocument', () => {
      const doc = {
        exc_type: 'QuotaExceeded',
        exc_message: ['quota exceeded', 42],
        exc_module: 'app.errors',
      };
      expect(TaskError.fromDocument(doc).toDocument()).toEqual(doc);
    });
  });
});

describe('exceptionToDocument', () => {
  it('sends JS errors that Python also has under builtins', () => {
    expect(exceptionToDocument(new TypeError('x is not a function'))).toEqual({
      exc_type: 'TypeError',
      exc_message: ['x is not a function'],
      exc_module: 'builtins',
    });
    expect(exceptionToDocument(new Error('plain'))).toEqual({
      exc_type: 'Exception',
      exc_message: ['plain'],
      exc_module: 'builtins',
    });
  });

  it('sends other error classes under celeriac.exceptions', () => {
    class QuotaError extends Error {
      override name = 'QuotaError';
    }
    expect(exceptionToDocument(new QuotaError('over'))).toEqual({
      exc_type: 'QuotaError',
      exc_message: ['over'],
      exc_module: 'celeriac.exceptions',
    });
  });

  it('honours excModule and excArgs set on the error', () => {
    const err = Object.assign(new Error('over'), {
      name: 'QuotaExceeded',
      excModule: 'app.errors',
      excArgs: ['over', 42],
    });
    expect(exceptionToDocument(err)).toEqual({
      exc_type: 'QuotaExceeded',
      exc_message: ['over', 42],
      exc_module: 'app.errors',
    });
  });

  it('keeps the remote type of a TaskError', () => {
    const remote = new TaskError({ type: 'KeyError', module: 'builtins', args: ['k'] });
    expect(exceptionToDocument(remote)).toEqual({
      exc_type: 'KeyError',
      exc_message: ['k'],
      exc_module: 'builtins',
    });
  });

  it('wraps thrown non-errors as Exception', () => {
    expect(exceptionToDocument('just a string')).toEqual({
      exc_type: 'Exception',
      exc_message: ['just a string'],
      exc_module: 'builtins',
    });
    expect(exceptionToDocument(undefined)).toEqual({
      exc_type: 'Exception',
      exc_message: ['undefined'],
      exc_module: 'builtins',
    });
  });
});

describe('tracebackOf', () => {
  it('prefers a remote traceback, then the JS stack', () => {
    expect(tracebackOf(new TaskError({ type: 'E', traceback: 'remote tb' }))).toBe('remote tb');
    const err = new Error('here');
    expect(tracebackOf(err)).toBe(err.stack);
    expect(tracebackOf(err)).toContain('here');
    expect(tracebackOf('not an error')).toBeNull();
  });
});

describe('isExceptionDocument', () => {
  it('needs an exc_type string', () => {
    expect(isExceptionDocument({ exc_type: 'E', exc_message: [], exc_module: null })).toBe(true);
    expect(isExceptionDocument({ exc_type: 1 })).toBe(false);
    expect(isExceptionDocument({ status: 'FAILURE' })).toBe(false);
    expect(isExceptionDocument(null)).toBe(false);
    expect(isExceptionDocument('ValueError')).toBe(false);
  });
});
