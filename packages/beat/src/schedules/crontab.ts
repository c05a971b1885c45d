import { CronExpressionParser, type CronExpression } from 'cron-parser';
import { optionTypes as t, type OptionType } from '@celeriac/core/internal';
import { invalidSchedule, scheduleChecks, show } from '../errors.js';
import {
  compileRange,
  defined,
  withinRange,
  type RangeOptions,
  type ScheduleRange,
} from './common.js';
import { checkTimeZone, fieldsOf, naiveFrom, nextInstant, type WallMatcher } from './wall-clock.js';

/** Options of {@link crontab}. */
export interface CrontabOptions extends RangeOptions {
  /** IANA time zone the fields are read in. @default the entry's, else the beat's (`UTC`) */
  timezone?: string;
}

/** A cron field as Celery's `crontab()` accepts it: a string, a number, or a list of numbers. */
export type CrontabField = string | number | readonly number[];

/** Celery's `crontab(minute=…, hour=…, …)`. Every field defaults to `'*'`. */
export interface CrontabFields {
  /** @default '*' */
  minute?: CrontabField;
  /** @default '*' */
  hour?: CrontabField;
  /** 0-6 or 7 (Sunday is 0 or 7), or names (`mon-fri`). @default '*' */
  dayOfWeek?: CrontabField;
  /** @default '*' */
  dayOfMonth?: CrontabField;
  /** 1-12 or names (`jan`). @default '*' */
  monthOfYear?: CrontabField;
}

/**
 * A cron expression read on the wall clock of a time zone. `expression` is the text as given
 * (5 fields, or 6 with seconds first). `dayMatch` says how a restricted day-of-month and a
 * restricted day-of-week combine: `'either'` as Unix cron (the string form), `'both'` as
 * Celery's `crontab()` (the object form).
 */
export interface CrontabSchedule extends ScheduleRange {
  readonly kind: 'crontab';
  readonly expression: string;
  readonly dayMatch: 'either' | 'both';
  readonly timezone?: string;
}

const FIELD_NAMES_6 = ['second', 'minute', 'hour', 'dayOfMonth', 'month', 'dayOfWeek'] as const;
const FIELDS_SPEC = {
  minute: t.any,
  hour: t.any,
  dayOfWeek: t.any,
  dayOfMonth: t.any,
  monthOfYear: t.any,
} as const satisfies { readonly [K in keyof Required<CrontabFields>]: OptionType };

const OPTIONS_SPEC = {
  timezone: t.string,
  startDate: t.any,
  endDate: t.any,
  jitter: t.any,
} as const satisfies { readonly [K in keyof Required<CrontabOptions>]: OptionType };

const crontabChecks = scheduleChecks('schedule');

/** A neutral value for each of the six fields, to parse one field on its own. */
const NEUTRAL_6 = ['0', '0', '0', '1', '1', '*'] as const;

/**
 * A cron schedule: `crontab('0 3 * * 1-5')` (minute hour day-of-month month day-of-week; a
 * sixth leading field is seconds) or Celery's keyword form
 * `crontab({ minute: 0, hour: 3, dayOfWeek: 'mon-fri' })`. Fields take `*`, lists, ranges,
 * steps (`*\/15`, `1-30/5`), names (`jan`, `mon`), `L` and `5#3` (third Friday); Sunday is 0 or 7.
 * Parsed by cron-parser, evaluated on the wall clock of `timezone` with the DST rules of
 * docs/beat.md. An invalid expression throws `CELERIAC_ERR_INVALID_SCHEDULE` naming the field.
 *
 * In the string form a restricted day-of-month and day-of-week match when either does (Unix
 * cron); in the object form both must match (Celery).
 *
 * @example
 * ```ts
 * crontab('0 3 * * 1-5', { timezone: 'Europe/London' });   // 03:00 London time on weekdays
 * crontab('*\/10 * * * * *');                               // every 10 seconds
 * crontab({ minute: 0, hour: '*\/3' });                     // every three hours
 * ```
 */
export function crontab(
  spec: string | CrontabFields,
  options: CrontabOptions = {},
): CrontabSchedule {
  crontabChecks.strict(options, OPTIONS_SPEC, { prefix: 'crontab.' });
  let expression: string;
  let dayMatch: 'either' | 'both';
  if (typeof spec === 'string') {
    expression = spec.trim().replace(/\s+/g, ' ');
    dayMatch = 'either';
  } else if (typeof spec === 'object' && spec !== null && !Array.isArray(spec)) {
    const f = spec;
    crontabChecks.strict(f, FIELDS_SPEC, { prefix: 'crontab.' });
    expression = [
      fieldText(f.minute, 'minute'),
      fieldText(f.hour, 'hour'),
      fieldText(f.dayOfMonth, 'dayOfMonth'),
      fieldText(f.monthOfYear, 'monthOfYear'),
      fieldText(f.dayOfWeek, 'dayOfWeek'),
    ].join(' ');
    dayMatch = 'both';
  } else {
    throw invalidSchedule(
      `crontab() takes an expression string or Celery's fields object, got ${show(spec)}`,
      'crontab',
      spec,
    );
  }
  const schedule = defined({
    kind: 'crontab' as const,
    expression,
    dayMatch,
    timezone:
      options.timezone === undefined
        ? undefined
        : checkTimeZone(options.timezone, 'crontab.timezone'),
    ...compileRange(options, 'crontab'),
  });
  compiled(schedule); // validates now, not at the first dispatch
  return Object.freeze(schedule);
}

function fieldText(value: CrontabField | undefined, name: string): string {
  if (value === undefined) return '*';
  if (typeof value === 'number' && Number.isInteger(value)) return String(value);
  if (typeof value === 'string' && value.trim() !== '' && !/\s/.test(value.trim()))
    return value.trim();
  if (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((v) => typeof v === 'number' && Number.isInteger(v))
  ) {
    return (value as readonly number[]).join(',');
  }
  throw invalidSchedule(
    `crontab.${name} must be a cron field (such as "*/15", "1-5" or "mon-fri"), an integer or a list of integers, got ${show(value)}`,
    `crontab.${name}`,
    value,
  );
}

interface Compiled {
  readonly cron: CronExpression;
  /** Set in `'both'` mode when both day fields are restricted: the day-of-week filter. */
  readonly weekdays: ReadonlySet<number> | undefined;
  readonly matcher: WallMatcher;
}

const cache = new WeakMap<object, Compiled>();

function parse(expression: string, field: string): CronExpression {
  try {
    return CronExpressionParser.parse(expression, {
      tz: 'UTC',
      currentDate: 0,
      hashSeed: expression,
    });
  } catch (err) {
    throw invalidSchedule(
      `crontab "${expression}": ${field}: ${(err as Error).message}`,
      field,
      expression,
      err,
    );
  }
}

/** cron-parser rejects `0,7` and `sun,7` as duplicates; Sunday is 0 or 7, so merge them. */
function normalizeDayOfWeek(field: string, fieldLabel: string, expression: string): string {
  const items = field.split(',');
  if (items.length < 2) return field;
  const numbers = new Set<number>();
  const special: string[] = [];
  for (const item of items) {
    if (/[L#]/i.test(item)) {
      special.push(item);
      continue;
    }
    const one = parseField(`0 0 0 * * ${item}`, fieldLabel, item, expression);
    for (const v of one.fields.dayOfWeek.values) numbers.add(v === 7 ? 0 : Number(v));
  }
  return [...[...numbers].sort((a, b) => a - b).map(String), ...special].join(',');
}

function parseField(
  probe: string,
  label: string,
  value: string,
  expression: string,
): CronExpression {
  try {
    return CronExpressionParser.parse(probe, { tz: 'UTC', currentDate: 0, hashSeed: expression });
  } catch (err) {
    throw invalidSchedule(
      `crontab "${expression}": invalid ${label} field "${value}": ${(err as Error).message}`,
      label,
      value,
      err,
    );
  }
}

function compiled(s: CrontabSchedule): Compiled {
  const hit = cache.get(s);
  if (hit) return hit;
  const { expression } = s;
  let fields: string[];
  if (expression.startsWith('@')) {
    fields = parse(expression, 'expression').stringify(true).split(' ');
  } else {
    fields = expression.split(' ');
    if (fields.length === 5) fields.unshift('0');
    else if (fields.length !== 6) {
      throw invalidSchedule(
        `crontab "${expression}" has ${fields.length} fields; expected 5 (minute hour day-of-month month day-of-week) or 6 (seconds first)`,
        'expression',
        expression,
      );
    }
  }
  const label = (i: number): string =>
    s.dayMatch === 'both' && i === 4 ? 'monthOfYear' : (FIELD_NAMES_6[i] ?? 'expression');
  fields[5] = normalizeDayOfWeek(fields[5] ?? '*', label(5), expression);
  // Parse each field alone first, so an error names the field and its value.
  fields.forEach((value, i) => {
    const probe = NEUTRAL_6.map((n, j) => (j === i ? value : n)).join(' ');
    parseField(probe, label(i), value, expression);
  });
  const restrictedDays =
    fields[3] !== '*' && fields[3] !== '?' && fields[5] !== '*' && fields[5] !== '?';
  let weekdays: Set<number> | undefined;
  if (s.dayMatch === 'both' && restrictedDays) {
    weekdays = new Set(
      parse(`0 0 0 * * ${fields[5]}`, 'dayOfWeek').fields.dayOfWeek.values.map((v) =>
        v === 7 ? 0 : Number(v),
      ),
    );
    fields[5] = '*';
  }
  const cron = parse(fields.join(' '), 'expression');
  const everyHour = cron.fields.hour.values.length === 24;
  const matcher: WallMatcher = {
    everyHour,
    next: (naive) => {
      let from = naive;
      for (let i = 0; i < 5000; i++) {
        let t: number;
        try {
          cron.reset(new Date(from));
          t = cron.next().getTime();
        } catch {
          return undefined; // cron-parser found no further date
        }
        if (!weekdays) return t;
        const f = fieldsOf(t);
        if (weekdays.has(f.weekday)) return t;
        from = naiveFrom(f.year, f.month, f.day + 1) - 1; // skip the rest of a day whose weekday does not match
      }
      return undefined;
    },
  };
  const c: Compiled = { cron, weekdays, matcher };
  cache.set(s, c);
  return c;
}

export function nextCrontabRun(
  s: CrontabSchedule,
  after: number,
  timezone: string,
): number | undefined {
  const { matcher } = compiled(s);
  return withinRange(s, after, (from) => nextInstant(matcher, s.timezone ?? timezone, from));
}
