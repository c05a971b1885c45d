import { invalidSchedule, show } from '../errors.js';
import {
  instantOf,
  resolveDates,
  resolveDate,
  type DateInput,
  type ScheduleDate,
} from './common.js';
import {
  cron,
  CRON_FIELD_NAMES,
  nextCronRun,
  type CronOptions,
  type CronSchedule,
} from './cron.js';
import {
  crontab,
  CRONTAB_DAY_MATCHES,
  nextCrontabRun,
  type CrontabDayMatch,
  type CrontabSchedule,
} from './crontab.js';
import {
  every,
  nextEveryRun,
  WEEKDAY_NAMES,
  type EveryJob,
  type EverySchedule,
  type EveryUnit,
} from './every.js';
import { interval, nextIntervalRun, type IntervalSchedule } from './interval.js';
import { nextOneOffRun, oneOff, type OneOffSchedule } from './one-off.js';
import { nextSolarRun, solar, type SolarEvent, type SolarSchedule } from './solar.js';
import { checkTimeZone } from './wall-clock.js';

/**
 * A schedule is plain, immutable data (a discriminated union on `kind`) that beat stores as
 * JSON, plus pure functions over it: {@link nextRunAfter} takes the time as an argument and
 * never reads a clock. Build one with `interval`, `crontab`, `cron`, `oneOff`, `solar` or
 * `every`.
 */
export type Schedule =
  | IntervalSchedule
  | CrontabSchedule
  | CronSchedule
  | OneOffSchedule
  | SolarSchedule
  | EverySchedule;

export type ScheduleKind = Schedule['kind'];

/**
 * The next run strictly after `after`, or undefined when the schedule has no more runs (a
 * one-off that has passed, an `endDate` reached). Wall-clock schedules without a time zone of
 * their own are read in `timezone`, and so are offset-less dates of schedules without one.
 *
 * @example
 * ```ts
 * nextRunAfter(crontab('30 2 * * *', { timezone: 'America/New_York' }), new Date('2025-03-09T00:00:00Z'));
 * // 2025-03-09T07:00:00.000Z: 02:30 does not exist that day, so it runs at the change, 03:00 EDT
 * ```
 */
export function nextRunAfter(
  schedule: Schedule,
  after: DateInput,
  timezone = 'UTC',
): Date | undefined {
  const t = nextRunAfterMs(schedule, instantOf(after, 'after'), timezone);
  return t === undefined ? undefined : new Date(t);
}

/** {@link nextRunAfter} on epoch milliseconds. */
export function nextRunAfterMs(
  schedule: Schedule,
  after: number,
  timezone = 'UTC',
): number | undefined {
  switch (schedule.kind) {
    case 'interval':
      return nextIntervalRun(schedule, after, timezone);
    case 'crontab':
      return nextCrontabRun(schedule, after, timezone);
    case 'cron':
      return nextCronRun(schedule, after, timezone);
    case 'oneOff':
      return nextOneOffRun(schedule, after, timezone);
    case 'solar':
      return nextSolarRun(schedule, after);
    case 'every':
      return nextEveryRun(schedule, after, timezone);
  }
}

/** The next `count` runs after `after` (fewer when the schedule ends). */
export function upcomingRuns(
  schedule: Schedule,
  after: DateInput,
  count: number,
  timezone = 'UTC',
): Date[] {
  const out: Date[] = [];
  let t: number | undefined = instantOf(after, 'after');
  while (out.length < count) {
    t = nextRunAfterMs(schedule, t, timezone);
    if (t === undefined) break;
    out.push(new Date(t));
  }
  return out;
}

/** True for schedules read on a wall clock, which take a time zone. */
export function takesTimezone(
  schedule: Schedule,
): schedule is CrontabSchedule | CronSchedule | EverySchedule {
  return schedule.kind === 'crontab' || schedule.kind === 'cron' || schedule.kind === 'every';
}

/** The schedule's own time zone, if it has one (a wall-clock schedule's, or an interval's). */
export function timezoneOf(schedule: Schedule): string | undefined {
  return takesTimezone(schedule) || schedule.kind === 'interval' ? schedule.timezone : undefined;
}

/** Seconds of jitter the schedule asks for (APScheduler's `jitter`). */
export function jitterOf(schedule: Schedule): number {
  return schedule.kind === 'interval' || schedule.kind === 'crontab' || schedule.kind === 'cron'
    ? (schedule.jitter ?? 0)
    : 0;
}

/** The JSON form of a schedule, as stored: the data without the `every()` chain methods. */
export type ScheduleJSON = Schedule;

export function scheduleToJSON(schedule: Schedule): ScheduleJSON {
  return JSON.parse(JSON.stringify(schedule)) as ScheduleJSON;
}

function field<T>(
  o: Record<string, unknown>,
  key: string,
  check: (v: unknown) => v is T,
): T | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!check(v))
    throw invalidSchedule(`schedule.${key} has the wrong type: ${show(v)}`, `schedule.${key}`, v);
  return v;
}
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isString = (v: unknown): v is string => typeof v === 'string';
/** Epoch ms, or an ISO string (an offset-less one is a wall time). */
const isDate = (v: unknown): v is ScheduleDate => isNumber(v) || isString(v);

/** `dayMatch` as stored: the three current values, and the two of earlier releases. */
function dayMatchOf(v: unknown): CrontabDayMatch | undefined {
  if (v === undefined || v === null) return undefined;
  if (v === 'either') return 'or'; // string crontabs stored before Vixie became the default
  if (v === 'both') return 'celery';
  if ((CRONTAB_DAY_MATCHES as readonly unknown[]).includes(v)) return v as CrontabDayMatch;
  throw invalidSchedule(
    `schedule.dayMatch must be ${CRONTAB_DAY_MATCHES.map((m) => `"${m}"`).join(', ')}, got ${show(v)}`,
    'schedule.dayMatch',
    v,
  );
}

/**
 * Rebuilds a schedule from its JSON form (from the store, the CLI or a config file) through
 * the same factory functions, so it is validated exactly as the original was.
 */
export function scheduleFromJSON(json: unknown): Schedule {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw invalidSchedule(
      `a schedule must be an object with a "kind", got ${show(json)}`,
      'schedule',
      json,
    );
  }
  const o = json as Record<string, unknown>;
  const range = {
    ...opt('startDate', field(o, 'startDate', isDate)),
    ...opt('endDate', field(o, 'endDate', isDate)),
    ...opt('jitter', field(o, 'jitter', isNumber)),
  };
  const tz = opt('timezone', field(o, 'timezone', isString));
  switch (o['kind']) {
    case 'interval':
      return interval({ seconds: (field(o, 'everyMs', isNumber) ?? 0) / 1000, ...range, ...tz });
    case 'crontab': {
      const expression = field(o, 'expression', isString) ?? '';
      // Without a stored dayMatch (hand-written JSON), the string form's default applies.
      return crontab(expression, {
        ...range,
        ...tz,
        ...opt('dayMatch', dayMatchOf(o['dayMatch'])),
      });
    }
    case 'cron': {
      const fields = o['fields'];
      if (typeof fields !== 'object' || fields === null)
        throw invalidSchedule('schedule.fields is missing', 'schedule.fields', fields);
      const f = fields as Record<string, unknown>;
      const given: CronOptions = {};
      for (const name of CRON_FIELD_NAMES) {
        const v = f[name];
        if (typeof v === 'string' || typeof v === 'number') given[name] = v;
      }
      return cron({ ...given, ...range, ...tz });
    }
    case 'oneOff':
      return oneOff(field(o, 'at', isDate) ?? Number.NaN, tz);
    case 'solar':
      return solar(o['event'] as SolarEvent, o['latitude'] as number, o['longitude'] as number);
    case 'every':
      return everyFromJSON(o);
    default:
      throw invalidSchedule(`unknown schedule kind ${show(o['kind'])}`, 'schedule.kind', o['kind']);
  }
}

function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

const UNITS: readonly EveryUnit[] = ['seconds', 'minutes', 'hours', 'days', 'weeks'];

function everyFromJSON(o: Record<string, unknown>): EveryJob {
  const unit = o['unit'];
  if (!UNITS.includes(unit as EveryUnit))
    throw invalidSchedule(
      `schedule.unit must be one of ${UNITS.join(', ')}, got ${show(unit)}`,
      'schedule.unit',
      unit,
    );
  const n = field(o, 'interval', isNumber) ?? 1;
  const max = field(o, 'maxInterval', isNumber);
  const b = max === undefined ? every(n) : every(n).to(max);
  const weekday = o['weekday'];
  let j: EveryJob;
  if (weekday !== undefined) {
    if (!(WEEKDAY_NAMES as readonly unknown[]).includes(weekday))
      throw invalidSchedule(
        `schedule.weekday ${show(weekday)} is not a weekday`,
        'schedule.weekday',
        weekday,
      );
    j = b[weekday as (typeof WEEKDAY_NAMES)[number]]();
  } else {
    j = b[unit as EveryUnit]();
  }
  const time = field(o, 'time', isString);
  if (time !== undefined) j = j.at(time);
  const tz = field(o, 'timezone', isString);
  if (tz !== undefined) j = j.in(tz);
  const end = field(o, 'endDate', isDate);
  if (end !== undefined) j = j.until(end);
  return j;
}

/**
 * The schedule with `timezone` as its time zone when it is a wall-clock one without its own,
 * and its offset-less dates read in its own zone, else `timezone` (an `interval` or a `oneOff`
 * keeps no zone from this: an interval's grid stays where its own options put it).
 */
export function withDefaultTimezone(schedule: Schedule, timezone: string): Schedule {
  const tz = checkTimeZone(timezone);
  switch (schedule.kind) {
    case 'interval': {
      const dated = resolveDates(schedule, schedule.timezone ?? tz);
      return dated.startDate === schedule.startDate && dated.endDate === schedule.endDate
        ? schedule
        : Object.freeze(dated);
    }
    case 'oneOff':
      return typeof schedule.at === 'number'
        ? schedule
        : Object.freeze({ ...schedule, at: resolveDate(schedule.at, tz) });
    case 'solar':
      return schedule;
    case 'every':
      if (schedule.timezone !== undefined) return schedule;
      return (schedule as Partial<EveryJob>).in
        ? (schedule as EveryJob).in(tz)
        : Object.freeze({
            ...schedule,
            timezone: tz,
            ...opt(
              'endDate',
              schedule.endDate === undefined ? undefined : resolveDate(schedule.endDate, tz),
            ),
          });
    case 'crontab':
    case 'cron':
      if (schedule.timezone !== undefined) return schedule;
      return scheduleFromJSON({ ...scheduleToJSON(schedule), timezone: tz });
  }
}

/** A one-line description for logs and `celeriac beat list`. */
export function describeSchedule(s: Schedule): string {
  const tz = timezoneOf(s);
  const inTz = tz && tz !== 'UTC' ? ` (${tz})` : '';
  switch (s.kind) {
    case 'interval':
      return `every ${formatDuration(s.everyMs)}${s.startDate === undefined ? '' : ` from ${dateText(s.startDate)}`}${inTz}`;
    case 'crontab':
      return `crontab "${s.expression}"${inTz}`;
    case 'cron':
      return `cron ${
        CRON_FIELD_NAMES.filter((f) => s.fields[f] !== '*')
          .map((f) => `${f}=${s.fields[f]}`)
          .join(' ') || '(every second)'
      }${inTz}`;
    case 'oneOff':
      return `once at ${dateText(s.at)}`;
    case 'solar':
      return `${s.event} at ${s.latitude}, ${s.longitude}`;
    case 'every': {
      const what =
        s.weekday ??
        `${s.maxInterval === undefined ? s.interval : `${s.interval} to ${s.maxInterval}`} ${s.unit}`;
      return `every ${what}${s.time === undefined ? '' : ` at ${s.time}`}${s.endDate === undefined ? '' : ` until ${dateText(s.endDate)}`}${inTz}`;
    }
  }
}

/** An instant in ISO form; a wall time as it is (it has no offset yet). */
function dateText(d: ScheduleDate): string {
  return typeof d === 'number' ? new Date(d).toISOString() : `${d} (local)`;
}

function formatDuration(ms: number): string {
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  if (rest > 0) parts.push(`${rest}ms`);
  return parts.join(' ') || '0s';
}
