import { optionChecks, optionTypes as t, type OptionType } from '@celeriac/core/internal';
import type { RevokeTaskOptions } from './async-result.js';
import { serializerType } from './celeriac-options.js';
import { parseRateLimit, type ApplyOptions, type TaskOptions, type UniqueOptions } from './task.js';

const errorMatchers = t.arrayOf(
  t.anyOf(t.string, { expected: 'an error class', test: (v) => typeof v === 'function' }),
);

const TASK_SPEC = {
  queue: t.nonEmptyString,
  ignoreResult: t.boolean,
  serializer: serializerType,
  timeLimit: t.seconds,
  softTimeLimit: t.seconds,
  trackStarted: t.boolean,
  priority: t.range(0, 255, true),
  expires: t.anyOf(t.seconds, t.date),
  maxRetries: t.anyOf(t.nonNegativeInteger, {
    expected: 'null (retry forever)',
    test: (v) => v === null,
  }),
  defaultRetryDelay: t.seconds,
  autoretryFor: errorMatchers,
  dontAutoretryFor: errorMatchers,
  retryBackoff: t.anyOf(t.boolean, { expected: 'a factor in seconds > 0', test: t.positive.test }),
  retryBackoffMax: t.seconds,
  retryJitter: t.boolean,
  acksLate: t.boolean,
  rejectOnWorkerLost: t.boolean,
  rateLimit: {
    expected: "a rate like '10/s', '100/m' or '1000/h'",
    test: (v) => typeof v === 'string' && parseRateLimit(v) !== undefined,
  },
  rateLimitKey: t.function,
  unique: t.object,
} as const satisfies { readonly [K in keyof Required<TaskOptions>]: OptionType };

const UNIQUE_SPEC = {
  ttl: { expected: 'a number of seconds > 0', test: t.positive.test },
  key: t.function,
} as const satisfies { readonly [K in keyof Required<UniqueOptions>]: OptionType };

/** Validates a task's options once, when it is defined, so a typo fails at start-up, not mid-run. */
export function compileTaskOptions(name: string, o: TaskOptions): Readonly<TaskOptions> {
  const checks = optionChecks(`task "${name}"`);
  checks.strict(o, TASK_SPEC);
  if (o.unique !== undefined) {
    checks.strict(o.unique, UNIQUE_SPEC, { prefix: 'unique.' });
    if (o.unique.ttl === undefined)
      throw checks.invalid(
        'unique.ttl',
        'is required: the seconds the first publish holds the key',
      );
  }
  return Object.freeze({ ...o });
}

/** What each `ApplyOptions` key takes. */
/** A signature or workflow (anything with Celery's dict form), or a list of them. */
const isPart = (v: unknown): boolean =>
  typeof v === 'object' && v !== null && typeof (v as { toJSON?: unknown }).toJSON === 'function';
const canvasParts: OptionType = {
  expected: 'a signature or workflow (task.s(...), chain(...), ...) or a list of them',
  test: (v) => isPart(v) || (Array.isArray(v) && v.every(isPart)),
};

export const APPLY_SPEC = {
  countdown: t.seconds,
  eta: t.anyOf(t.date, t.nonEmptyString),
  expires: t.anyOf(t.seconds, t.date, t.nonEmptyString),
  priority: t.range(0, 255, true),
  queue: t.nonEmptyString,
  taskId: t.nonEmptyString,
  headers: t.object,
  ignoreResult: t.boolean,
  serializer: serializerType,
  timeLimit: t.seconds,
  softTimeLimit: t.seconds,
  shadow: t.string,
  parentId: t.nonEmptyString,
  rootId: t.nonEmptyString,
  link: canvasParts,
  linkError: canvasParts,
} as const satisfies { readonly [K in keyof Required<ApplyOptions>]: OptionType };

/** What each `revoke()` option takes. */
export const REVOKE_SPEC = {
  terminate: t.boolean,
  ttl: t.seconds,
} as const satisfies { readonly [K in keyof Required<RevokeTaskOptions>]: OptionType };
