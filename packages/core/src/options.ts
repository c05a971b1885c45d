import { closestName } from './closest-name.js';
import { CeleriacError, ErrorCodes, type ErrorCode } from './errors.js';

/**
 * `details` of every `CELERIAC_ERR_INVALID_OPTION` (and of the option errors of schedules,
 * `CELERIAC_ERR_INVALID_SCHEDULE`, which add `field`, the same as `option`).
 */
export interface OptionErrorDetails {
  /** The key as passed, with its parent for a nested one (`unique.ttl`, `options.queue`). */
  readonly option: string;
  /** The rejected value; absent for a missing required option. */
  readonly value?: unknown;
  /** What the option takes (`a number of seconds >= 0`, `"json" or "msgpack"`). */
  readonly expected?: string;
  /** The nearest valid key, for an unknown (or renamed) one. */
  readonly suggestion?: string;
}

/** What a value must be: a description for messages and a test. */
export interface OptionType {
  readonly expected: string;
  readonly test: (value: unknown) => boolean;
}

/** Every accepted key of an options object and what its value must be (`undefined` is always accepted). */
export type OptionSpec = Readonly<Record<string, OptionType>>;

/** Extra rules of {@link OptionChecks.strict}. */
export interface StrictOptions {
  /** Old key → new key, for keys that were renamed: the error names the new one. */
  readonly renamed?: Readonly<Record<string, string>>;
  /** Put before each key in messages and `details.option`, for nested objects (`unique.`). */
  readonly prefix?: string;
  /** Why a renamed key changed, appended to its message. @default the unit rule */
  readonly renameReason?: string;
}

export interface OptionChecks {
  /** The error, naming the owner and the option: `<owner> option "<name>" <problem>`. */
  readonly invalid: (
    option: string,
    problem: string,
    details?: Omit<OptionErrorDetails, 'option'>,
  ) => CeleriacError;
  /** `value`, or `fallback` when undefined; throws unless it is a positive (integer) number. */
  readonly positive: (
    option: string,
    value: number | undefined,
    fallback: number,
    integer?: boolean,
  ) => number;
  /**
   * Throws for the first key of `options` that `spec` does not name (suggesting the nearest
   * one) and for the first defined value that fails its type. `options` must be a plain
   * object; undefined passes (no options).
   */
  readonly strict: (options: unknown, spec: OptionSpec, extra?: StrictOptions) => void;
  /** The error for a value of the wrong type: `must be <expected>, got <value>`. */
  readonly wrongType: (option: string, value: unknown, expected: string) => CeleriacError;
  /**
   * Throws for a key of `options` that is not in `keys`, naming the nearest valid spelling: a
   * misspelt option must not silently keep its default. `strict()` with every value accepted,
   * for code that checks the values itself.
   */
  readonly known: (options: object, keys: readonly string[]) => void;
}

/** A value as messages show it: JSON where possible, never throwing. */
export function showValue(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol') return value.toString();
  if (value instanceof Date)
    return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  if (typeof value === 'number') return String(value);
  try {
    const text = JSON.stringify(value);
    if (text === undefined) return String(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return String(value);
  }
}

const UNIT_RULE =
  'durations in milliseconds end in "Ms"; other durations are seconds, as in Celery';

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Option checks whose errors read `<owner> option "<name>" <problem>`, with `details` of the
 * {@link OptionErrorDetails} shape. `owner` says where the option was passed (`Worker`,
 * `applyAsync`, `RedisBroker`); `code` is `CELERIAC_ERR_INVALID_OPTION` unless given.
 */
export function optionChecks(
  owner: string,
  code: ErrorCode = ErrorCodes.INVALID_OPTION,
): OptionChecks {
  const invalid = (
    option: string,
    problem: string,
    details: Omit<OptionErrorDetails, 'option'> = {},
  ): CeleriacError =>
    new CeleriacError(code, `${owner} option "${option}" ${problem}`, {
      details: {
        option,
        ...(code === ErrorCodes.INVALID_SCHEDULE ? { field: option } : {}),
        ...details,
      },
    });
  const wrongType = (option: string, value: unknown, expected: string): CeleriacError =>
    invalid(option, `must be ${expected}, got ${showValue(value)}`, { value, expected });
  const positive = (
    option: string,
    value: number | undefined,
    fallback: number,
    integer = false,
  ): number => {
    if (value === undefined) return fallback;
    if (
      typeof value !== 'number' ||
      !Number.isFinite(value) ||
      value <= 0 ||
      (integer && !Number.isInteger(value))
    ) {
      throw wrongType(option, value, `a positive ${integer ? 'integer' : 'number'}`);
    }
    return value;
  };
  const strict = (options: unknown, spec: OptionSpec, extra: StrictOptions = {}): void => {
    const prefix = extra.prefix ?? '';
    if (options === undefined) return;
    if (!isPlainObject(options)) {
      const where = prefix === '' ? 'options' : prefix.slice(0, -1);
      throw new CeleriacError(
        code,
        `${owner} ${where} must be an object of options, got ${showValue(options)}`,
        { details: { option: where, value: options, expected: 'an object' } },
      );
    }
    const known = Object.keys(spec);
    for (const key of Object.keys(options)) {
      const type = Object.hasOwn(spec, key) ? spec[key] : undefined;
      if (type === undefined) {
        const renamedTo = extra.renamed?.[key];
        if (renamedTo !== undefined) {
          throw invalid(
            prefix + key,
            `was renamed "${renamedTo}" (${extra.renameReason ?? UNIT_RULE}): rename it, checking the unit of its value`,
            { value: options[key], suggestion: renamedTo },
          );
        }
        const suggestion = closestName(key, known);
        const fix =
          suggestion === undefined
            ? `remove it, or use one of: ${known.join(', ')}`
            : `did you mean "${suggestion}"? Fix the spelling, or remove it`;
        throw invalid(prefix + key, `is unknown; ${fix}`, {
          value: options[key],
          ...(suggestion === undefined ? {} : { suggestion }),
        });
      }
      const value = options[key];
      if (value !== undefined && !type.test(value))
        throw wrongType(prefix + key, value, type.expected);
    }
  };
  const known = (options: object, keys: readonly string[]): void => {
    const spec: Record<string, OptionType> = {};
    for (const key of keys) spec[key] = optionTypes.any;
    strict(options, spec);
  };
  return { invalid, positive, strict, wrongType, known };
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** The value types {@link OptionSpec}s are built from. */
export const optionTypes = {
  any: { expected: 'any value', test: () => true },
  string: { expected: 'a string', test: (v) => typeof v === 'string' },
  nonEmptyString: {
    expected: 'a non-empty string',
    test: (v) => typeof v === 'string' && v !== '',
  },
  boolean: { expected: 'true or false', test: (v) => typeof v === 'boolean' },
  function: { expected: 'a function', test: (v) => typeof v === 'function' },
  object: { expected: 'an object', test: isPlainObject },
  array: { expected: 'an array', test: (v) => Array.isArray(v) },
  date: {
    expected: 'a valid Date',
    test: (v) => v instanceof Date && !Number.isNaN(v.getTime()),
  },
  number: { expected: 'a finite number', test: finite },
  positive: { expected: 'a number > 0', test: (v) => finite(v) && v > 0 },
  nonNegative: { expected: 'a number >= 0', test: (v) => finite(v) && v >= 0 },
  positiveInteger: {
    expected: 'an integer >= 1',
    test: (v) => Number.isInteger(v) && (v as number) >= 1,
  },
  nonNegativeInteger: {
    expected: 'an integer >= 0',
    test: (v) => Number.isInteger(v) && (v as number) >= 0,
  },
  /** Seconds, as Celery counts durations: a number >= 0. */
  seconds: { expected: 'a number of seconds >= 0', test: (v) => finite(v) && v >= 0 },
  /** Milliseconds, for options whose name ends in `Ms`: a number >= 0. */
  milliseconds: { expected: 'a number of milliseconds >= 0', test: (v) => finite(v) && v >= 0 },
  /** A number in `min..max`, an integer when `integer`. */
  range(min: number, max: number, integer = false, unit = ''): OptionType {
    const what = integer ? 'an integer' : 'a number';
    return {
      expected: `${what} from ${min} to ${max}${unit === '' ? '' : ` (${unit})`}`,
      test: (v) => finite(v) && v >= min && v <= max && (!integer || Number.isInteger(v)),
    };
  },
  /** One of the given values. */
  oneOf(...values: readonly (string | number | boolean | null)[]): OptionType {
    const shown = values.map((v) => JSON.stringify(v));
    const expected =
      shown.length <= 2
        ? shown.join(' or ')
        : `${shown.slice(0, -1).join(', ')} or ${shown.at(-1) ?? ''}`;
    return { expected, test: (v) => values.includes(v as string) };
  },
  /** A value any of `types` accepts. */
  anyOf(...types: readonly OptionType[]): OptionType {
    return {
      expected: types.map((t) => t.expected).join(' or '),
      test: (v) => types.some((t) => t.test(v)),
    };
  },
  /** An array whose every element `type` accepts. */
  arrayOf(type: OptionType): OptionType {
    return {
      expected: `an array of ${type.expected.replace(/^an? /, '')}s`,
      test: (v) => Array.isArray(v) && v.every((e) => type.test(e)),
    };
  },
} satisfies Record<string, OptionType | ((...args: never[]) => OptionType)>;
