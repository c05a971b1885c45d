import { describe, expect, it } from 'vitest';
import {
  MaxRetriesExceededError,
  NonRetryableError,
  Retry,
  type RetryOptions,
  type TaskOptions,
} from '@celeriac/client';
import {
  DEFAULT_MAX_RETRIES,
  DEFAULT_RETRY_DELAY_SECONDS,
  backoffSeconds,
  decideRetry,
  type RetryDecision,
  type RetryHeaders,
} from './retry-policy.js';

const NOW = Date.UTC(2026, 0, 1);

class ConnectionError extends Error {
  override name = 'ConnectionError';
}
class Fatal extends ConnectionError {}

const down = new ConnectionError('down');
const fatal = new Fatal('fatal');
/** A failure rebuilt from another worker's document: matched by its `type`. */
const remote = Object.assign(new Error('remote'), { type: 'ConnectionError' });

function headers(retries: number): RetryHeaders {
  return { task: 'tasks.x', id: 'id-1', retries, argsrepr: '(1,)', kwargsrepr: '{}' };
}

interface Row {
  readonly name: string;
  readonly options: Readonly<TaskOptions>;
  /** What the task threw; a function so each row builds its own Retry. */
  readonly error: () => unknown;
  readonly retries?: number;
  readonly random?: number;
  /** The decision expected: `fail`, `exceeded` with its error, or a retry's delay and exc. */
  readonly expected:
    | { readonly kind: 'fail' }
    | { readonly kind: 'exceeded'; readonly maxRetries: number; readonly error: unknown }
    | { readonly kind: 'retry'; readonly delayMs: number; readonly exc?: unknown };
}

const retry = (o?: RetryOptions) => (): Retry => new Retry(o);

const rows: readonly Row[] = [
  // autoretryFor, dontAutoretryFor, NonRetryableError
  {
    name: 'an error not in autoretryFor fails',
    options: {},
    error: () => down,
    expected: { kind: 'fail' },
  },
  {
    name: 'autoretryFor matches a class',
    options: { autoretryFor: [ConnectionError] },
    error: () => down,
    expected: { kind: 'retry', delayMs: DEFAULT_RETRY_DELAY_SECONDS * 1000, exc: down },
  },
  {
    name: 'autoretryFor matches a subclass',
    options: { autoretryFor: [ConnectionError] },
    error: () => fatal,
    expected: { kind: 'retry', delayMs: 180_000, exc: fatal },
  },
  {
    name: 'autoretryFor matches a name',
    options: { autoretryFor: ['ConnectionError'], defaultRetryDelay: 5 },
    error: () => down,
    expected: { kind: 'retry', delayMs: 5000, exc: down },
  },
  {
    name: "autoretryFor matches a remote error's type",
    options: { autoretryFor: ['ConnectionError'], defaultRetryDelay: 5 },
    error: () => remote,
    expected: { kind: 'retry', delayMs: 5000, exc: remote },
  },
  {
    name: 'dontAutoretryFor wins over autoretryFor',
    options: { autoretryFor: [Error], dontAutoretryFor: [Fatal] },
    error: () => fatal,
    expected: { kind: 'fail' },
  },
  {
    name: 'a NonRetryableError is never retried',
    options: { autoretryFor: [Error] },
    error: () => new NonRetryableError('stop'),
    expected: { kind: 'fail' },
  },
  {
    name: 'a thrown non-Error is matched by nothing',
    options: { autoretryFor: [Error, 'Error'] },
    error: () => 'a string',
    expected: { kind: 'fail' },
  },
  // backoff, backoffMax, jitter
  {
    name: 'backoff: factor × 2^retries',
    options: {
      autoretryFor: [ConnectionError],
      maxRetries: null,
      retryBackoff: 2,
      retryJitter: false,
    },
    error: () => down,
    retries: 3,
    expected: { kind: 'retry', delayMs: 16_000, exc: down },
  },
  {
    name: 'backoff true is a factor of 1',
    options: {
      autoretryFor: [ConnectionError],
      maxRetries: null,
      retryBackoff: true,
      retryJitter: false,
    },
    error: () => down,
    retries: 2,
    expected: { kind: 'retry', delayMs: 4000 },
  },
  {
    name: 'backoff is capped at 600 s by default',
    options: {
      autoretryFor: [ConnectionError],
      maxRetries: null,
      retryBackoff: 1,
      retryJitter: false,
    },
    error: () => down,
    retries: 20,
    expected: { kind: 'retry', delayMs: 600_000 },
  },
  {
    name: 'backoff is capped at retryBackoffMax',
    options: {
      autoretryFor: [ConnectionError],
      maxRetries: null,
      retryBackoff: 2,
      retryBackoffMax: 10,
      retryJitter: false,
    },
    error: () => down,
    retries: 5,
    expected: { kind: 'retry', delayMs: 10_000 },
  },
  {
    name: 'jitter is on by default: a whole second in [0, countdown]',
    options: { autoretryFor: [ConnectionError], maxRetries: null, retryBackoff: 2 },
    error: () => down,
    retries: 3,
    random: 0.5,
    expected: { kind: 'retry', delayMs: 8000 },
  },
  {
    name: 'jitter at its low end retries at once',
    options: {
      autoretryFor: [ConnectionError],
      maxRetries: null,
      retryBackoff: 2,
      retryJitter: true,
    },
    error: () => down,
    retries: 3,
    random: 0,
    expected: { kind: 'retry', delayMs: 0 },
  },
  {
    name: 'jitter at its high end is the whole countdown',
    options: {
      autoretryFor: [ConnectionError],
      maxRetries: null,
      retryBackoff: 2,
      retryJitter: true,
    },
    error: () => down,
    retries: 3,
    random: 0.999,
    expected: { kind: 'retry', delayMs: 16_000 },
  },
  // explicit retry(): countdown, eta, exc
  {
    name: 'retry() waits defaultRetryDelay, with a Retry as its exc',
    options: {},
    error: retry(),
    expected: { kind: 'retry', delayMs: 180_000 },
  },
  {
    name: 'retry() without an error of its own gets no backoff',
    options: { retryBackoff: 2, retryJitter: false, defaultRetryDelay: 7 },
    error: retry(),
    retries: 2,
    expected: { kind: 'retry', delayMs: 7000 },
  },
  {
    name: 'retry({ exc }) gets the backoff, and exc is stored',
    options: { retryBackoff: 2, retryJitter: false },
    error: retry({ exc: down }),
    retries: 1,
    expected: { kind: 'retry', delayMs: 4000, exc: down },
  },
  {
    name: 'an explicit countdown wins over the backoff',
    options: { autoretryFor: [ConnectionError], retryBackoff: 2 },
    error: retry({ countdown: 1, exc: down }),
    expected: { kind: 'retry', delayMs: 1000, exc: down },
  },
  {
    name: 'an explicit eta wins over a countdown',
    options: {},
    error: retry({ eta: new Date(NOW + 2500), countdown: 60 }),
    expected: { kind: 'retry', delayMs: 2500 },
  },
  {
    name: 'an eta in the past is due at once',
    options: {},
    error: retry({ eta: new Date(NOW - 5000) }),
    expected: { kind: 'retry', delayMs: -5000 },
  },
  // maxRetries, exceeded
  {
    name: `maxRetries defaults to ${DEFAULT_MAX_RETRIES}: the last error fails`,
    options: { autoretryFor: [ConnectionError] },
    error: () => down,
    retries: DEFAULT_MAX_RETRIES,
    expected: { kind: 'exceeded', maxRetries: 3, error: down },
  },
  {
    name: 'below maxRetries it retries',
    options: { autoretryFor: [ConnectionError], maxRetries: 3 },
    error: () => down,
    retries: 2,
    expected: { kind: 'retry', delayMs: 180_000, exc: down },
  },
  {
    name: 'retry() without an error exceeds with MaxRetriesExceededError',
    options: { maxRetries: 2 },
    error: retry({ countdown: 0 }),
    retries: 2,
    expected: {
      kind: 'exceeded',
      maxRetries: 2,
      error: new MaxRetriesExceededError("Can't retry tasks.x[id-1] args:(1,) kwargs:{}"),
    },
  },
  {
    name: 'maxRetries 0 never retries',
    options: { autoretryFor: [ConnectionError], maxRetries: 0 },
    error: () => down,
    expected: { kind: 'exceeded', maxRetries: 0, error: down },
  },
  {
    name: 'maxRetries null retries forever',
    options: { autoretryFor: [ConnectionError], maxRetries: null, defaultRetryDelay: 0 },
    error: () => down,
    retries: 1000,
    expected: { kind: 'retry', delayMs: 0, exc: down },
  },
  {
    name: "retry({ maxRetries }) overrides the task's",
    options: { maxRetries: 1 },
    error: retry({ maxRetries: 5, countdown: 2 }),
    retries: 3,
    expected: { kind: 'retry', delayMs: 2000 },
  },
  {
    name: 'retry({ maxRetries: null }) retries forever',
    options: { maxRetries: 0 },
    error: retry({ maxRetries: null, countdown: 2 }),
    retries: 9,
    expected: { kind: 'retry', delayMs: 2000 },
  },
  {
    name: "retry({ maxRetries }) can also be lower than the task's",
    options: { maxRetries: 10 },
    error: retry({ maxRetries: 1, exc: down }),
    retries: 1,
    expected: { kind: 'exceeded', maxRetries: 1, error: down },
  },
];

describe('decideRetry', () => {
  it.each(rows)('$name', (row) => {
    const error = row.error();
    const decision: RetryDecision = decideRetry(row.options, error, headers(row.retries ?? 0), {
      now: NOW,
      random: () => row.random ?? 0.5,
    });
    const want = row.expected;
    expect(decision.kind).toBe(want.kind);
    switch (decision.kind) {
      case 'fail':
        return;
      case 'exceeded':
        if (want.kind !== 'exceeded') return;
        expect(decision.maxRetries).toBe(want.maxRetries);
        if (want.error instanceof MaxRetriesExceededError) {
          expect(decision.error).toBeInstanceOf(MaxRetriesExceededError);
          expect((decision.error as Error).message).toBe(want.error.message);
        } else expect(decision.error).toBe(want.error);
        return;
      case 'retry':
        if (want.kind !== 'retry') return;
        expect(decision.delayMs).toBe(want.delayMs);
        expect(decision.etaMs).toBe(NOW + Math.max(0, want.delayMs));
        if (want.exc !== undefined) expect(decision.exc).toBe(want.exc);
        else if (error instanceof Retry) {
          // Without an error of its own, RETRY stores a Retry with the same options.
          expect(decision.exc).toBeInstanceOf(Retry);
          expect((decision.exc as Retry).options).toEqual(error.options);
        }
        return;
    }
  });

  it('is pure: the same inputs give the same decision, and the inputs are not changed', () => {
    const options = Object.freeze({ autoretryFor: [ConnectionError], retryBackoff: 2 });
    const h = Object.freeze(headers(2));
    const env = { now: NOW, random: () => 0.25 };
    expect(decideRetry(options, down, h, env)).toEqual(decideRetry(options, down, h, env));
  });
});

describe('backoffSeconds', () => {
  it("matches Celery's exponential backoff with full jitter", () => {
    expect(backoffSeconds({ factor: 2, retries: 0, maximum: 600, fullJitter: false })).toBe(2);
    expect(backoffSeconds({ factor: 2, retries: 3, maximum: 600, fullJitter: false })).toBe(16);
    expect(backoffSeconds({ factor: 1, retries: 20, maximum: 600, fullJitter: false })).toBe(600);
    // Full jitter: a whole number of seconds uniform in [0, countdown].
    expect(
      backoffSeconds({ factor: 2, retries: 3, maximum: 600, fullJitter: true, random: () => 0 }),
    ).toBe(0);
    expect(
      backoffSeconds({
        factor: 2,
        retries: 3,
        maximum: 600,
        fullJitter: true,
        random: () => 0.999,
      }),
    ).toBe(16);
    expect(
      backoffSeconds({ factor: 2, retries: 3, maximum: 600, fullJitter: true, random: () => 0.5 }),
    ).toBe(8);
  });
});
