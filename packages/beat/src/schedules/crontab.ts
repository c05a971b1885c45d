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
import { checkTimeZone, nextInstant, type WallMatcher } from './wall-clock.js';

/**
 * How a restricted day-of-month and a restricted day-of-week combine (see docs/beat.md):
 *
 * - `'vixie'`: Vixie / Debian cron. When either field starts with `*` (`*`, `*\/2`) a day must
 *   match both; when both are restricted otherwise (`1-7`, `mon`), either. So `0 0 *\/2 * 1` is
 *   odd-dated Mondays and `0 0 1,15 * 1` the 1st, the 15th and every Monday.
 * - `'celery'`: both must match, always (Celery's `crontab()`): `0 0 1-7 * 1` is the first Monday.
 * - `'or'`: either matches when neither field is exactly `*` (POSIX as cron-parser reads it,
 *   and what Celeriac did before `dayMatch`): `0 0 *\/2 * 1` is odd days and Mondays.
 */
export type CrontabDayMatch = 'vixie' | 'celery' | 'or';

/** The values `crontab({ dayMatch })` accepts. */
export const CRONTAB_DAY_MATCHES: readonly CrontabDayMatch[] = ['vixie', 'celery', 'or'];

/** Options of {@link crontab}. */
export interface CrontabOptions extends RangeOptions {
  /** IANA time zone the fields are read in. @default the entry's, else the beat's (`UTC`) */
  timezone?: string;
  /**
   * How day-of-month and day-of-week combine: {@link CrontabDayMatch}.
   * @default 'vixie' for an expression string, 'celery' for Celery's fields object
   */
  dayMatch?: CrontabDayMatch;
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
 * (5 fields, or 6 with seconds first); `dayMatch` says how a restricted day-of-month and a
 * restricted day-of-week combine ({@link CrontabDayMatch}). Stored schedules written before
 * `dayMatch` had three values carry `'either'` (read as `'or'`) or `'both'` (read as `'celery'`).
 */
export interface CrontabSchedule extends ScheduleRange {
  readonly kind: 'crontab';
  readonly expression: string;
  readonly dayMatch: CrontabDayMatch;
  readonly timezone?: string;
}

const FIELD_NAMES_6 = ['second', 'minute', 'hour', 'dayOfMonth', 'month', 'dayOfWeek'] as const;
const OBJECT_FIELD_NAMES = [
  'second',
  'minute',
  'hour',
  'dayOfMonth',
  'monthOfYear',
  'dayOfWeek',
] as const;
const FIELDS_SPEC = {
  minute: t.any,
  hour: t.any,
  dayOfWeek: t.any,
  dayOfMonth: t.any,
  monthOfYear: t.any,
} as const satisfies { readonly [K in keyof Required<CrontabFields>]: OptionType };

const OPTIONS_SPEC = {
  timezone: t.string,
  dayMatch: t.any,
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
 * Parsed by cron-parser, evaluated on the wall clock of `timezone` with Vixie cron's DST rules
 * (docs/beat.md): on a fall-back day a fixed-time job runs once and a job with `*` in its
 * minute or hour field in both passes; on a spring-forward day a fixed-time job whose time was
 * skipped runs at the change, and a wildcard job's skipped times do not run. An invalid
 * expression throws `CELERIAC_ERR_INVALID_SCHEDULE` naming the field.
 *
 * The string form combines a restricted day-of-month and day-of-week as Vixie cron does, the
 * object form as Celery does; `dayMatch` picks either, or `'or'` ({@link CrontabDayMatch}).
 *
 * @example
 * ```ts
 * crontab('0 3 * * 1-5', { timezone: 'Europe/London' });   // 03:00 London time on weekdays
 * crontab('*\/10 * * * * *');                               // every 10 seconds
 * crontab({ minute: 0, hour: '*\/3' });                     // every three hours
 * crontab('0 0 1-7 * mon', { dayMatch: 'celery' });          // the first Monday of the month
 * ```
 */
export function crontab(
  spec: string | CrontabFields,
  options: CrontabOptions = {},
): CrontabSchedule {
  crontabChecks.strict(options, OPTIONS_SPEC, { prefix: 'crontab.' });
  if (options.dayMatch !== undefined && !CRONTAB_DAY_MATCHES.includes(options.dayMatch)) {
    throw invalidSchedule(
      `crontab.dayMatch must be ${CRONTAB_DAY_MATCHES.map((m) => `"${m}"`).join(', ')}, got ${show(options.dayMatch)}`,
      'crontab.dayMatch',
      options.dayMatch,
      undefined,
      { expected: CRONTAB_DAY_MATCHES.join(' | ') },
    );
  }
  let expression: string;
  let dayMatch: CrontabDayMatch;
  if (typeof spec === 'string') {
    expression = spec.trim().replace(/\s+/g, ' ');
    dayMatch = options.dayMatch ?? 'vixie';
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
    dayMatch = options.dayMatch ?? 'celery';
  } else {
    throw invalidSchedule(
      `crontab() takes an expression string or Celery's fields object, got ${show(spec)}`,
      'crontab',
      spec,
    );
  }
  const timezone =
    options.timezone === undefined
      ? undefined
      : checkTimeZone(options.timezone, 'crontab.timezone');
  const schedule = defined({
    kind: 'crontab' as const,
    expression,
    dayMatch,
    timezone,
    ...compileRange(options, 'crontab', timezone),
  });
  compiled(schedule, typeof spec === 'string' ? FIELD_NAMES_6 : OBJECT_FIELD_NAMES); // validates now, not at the first dispatch
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

const isAny = (field: string): boolean => field === '*' || field === '?';
/** Vixie's `*_STAR` flags: the field's first character is `*` (`*`, `*\/15`). */
const isStar = (field: string): boolean => field.startsWith('*') || field === '?';

/** The next match of a cron-parser expression strictly after a naive time; undefined when none. */
function nextOf(cron: CronExpression, naive: number): number | undefined {
  try {
    cron.reset(new Date(naive));
    return cron.next().getTime();
  } catch {
    return undefined; // cron-parser found no further date
  }
}

/** Steps of the intersection walk of two expressions (each step skips at least one day). */
const MAX_INTERSECTION_STEPS = 10_000;

function compiled(s: CrontabSchedule, labels: readonly string[] = FIELD_NAMES_6): Compiled {
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
  const label = (i: number): string => labels[i] ?? 'expression';
  fields[5] = normalizeDayOfWeek(fields[5] ?? '*', label(5), expression);
  // Parse each field alone first, so an error names the field and its value.
  fields.forEach((value, i) => {
    const probe = NEUTRAL_6.map((n, j) => (j === i ? value : n)).join(' ');
    parseField(probe, label(i), value, expression);
  });
  const [, minute = '*', hour = '*', dom = '*', , dow = '*'] = fields;
  // Both day fields restricted: cron-parser ORs them; the AND modes intersect a day-of-month
  // expression with a day-of-week one instead (which keeps `L` and `5#3` working in both).
  const and =
    !isAny(dom) &&
    !isAny(dow) &&
    (s.dayMatch === 'celery' || (s.dayMatch === 'vixie' && (isStar(dom) || isStar(dow))));
  const withDays = (d: string, w: string): CronExpression =>
    parse([...fields.slice(0, 3), d, fields[4], w].join(' '), 'expression');
  const byMonthDay = and ? withDays(dom, '*') : parse(fields.join(' '), 'expression');
  const byWeekday = and ? withDays('*', dow) : undefined;
  // Vixie cron: a job with `*` in its minute or hour field (or @hourly) is a wildcard job, run
  // on the new time (both passes of a repeated hour, none of a skipped one); any other job is
  // a fixed-time job, run once in a repeated hour and soon after the change for a skipped one.
  const wildcard = isStar(minute) || isStar(hour);
  const matcher: WallMatcher = {
    gap: wildcard ? 'skip' : 'atChange',
    overlap: wildcard ? 'both' : 'first',
    next: (naive) => {
      let a = nextOf(byMonthDay, naive);
      if (!byWeekday) return a;
      let b = nextOf(byWeekday, naive);
      for (let i = 0; i < MAX_INTERSECTION_STEPS && a !== undefined && b !== undefined; i++) {
        if (a === b) return a;
        if (a < b) a = nextOf(byMonthDay, b - 1);
        else b = nextOf(byWeekday, a - 1);
      }
      return undefined;
    },
  };
  const c: Compiled = { matcher };
  cache.set(s, c);
  return c;
}

export function nextCrontabRun(
  s: CrontabSchedule,
  after: number,
  timezone: string,
): number | undefined {
  const { matcher } = compiled(s);
  const tz = s.timezone ?? timezone;
  return withinRange(s, after, tz, (from) => nextInstant(matcher, tz, from));
}
