import { invalidSchedule, show } from '../errors.js';
import { compileRange, instantOf, type DateInput, type RangeOptions } from '../schedules/common.js';
import { cron, CRON_FIELD_NAMES, type CronOptions } from '../schedules/cron.js';
import { interval, type IntervalOptions } from '../schedules/interval.js';
import { oneOff } from '../schedules/one-off.js';
import { scheduleFromJSON, scheduleToJSON, type Schedule } from '../schedules/schedule.js';

/** APScheduler's trigger names, for `addJob(fn, 'interval', { minutes: 2 })`. */
export type TriggerName = 'interval' | 'cron' | 'date';

/** The fields of `'interval'`: APScheduler's `weeks`, `days`, `hours`, `minutes`, `seconds`. */
export type IntervalTriggerOptions = Omit<IntervalOptions, keyof RangeOptions>;
/** The fields of `'cron'`: APScheduler's `year`, `month`, `day`, `week`, `day_of_week`, ... */
export type CronTriggerOptions = Omit<CronOptions, keyof RangeOptions | 'timezone'>;
/** The field of `'date'`. */
export interface DateTriggerOptions {
  /** When the job runs (APScheduler's `run_date`). @default now */
  runDate?: DateInput;
}

/** What `rescheduleJob(id, trigger, options)` takes: a trigger's fields and its range. */
export type TriggerOptions = RangeOptions &
  IntervalTriggerOptions &
  CronTriggerOptions &
  DateTriggerOptions & { timezone?: string };

const INTERVAL_KEYS = ['weeks', 'days', 'hours', 'minutes', 'seconds'] as const;
const KEYS: Record<TriggerName, readonly string[]> = {
  interval: INTERVAL_KEYS,
  cron: CRON_FIELD_NAMES,
  date: ['runDate'],
};
const TRIGGER_NAMES = Object.keys(KEYS) as TriggerName[];
/** Every trigger field, so a job's options can be told from a trigger's. */
export const TRIGGER_KEYS: ReadonlySet<string> = new Set(Object.values(KEYS).flat());
const RANGE_KEYS = ['startDate', 'endDate', 'jitter'] as const;

/**
 * The schedule of `addJob(fn, trigger, options)`, and the options left for the job. A trigger
 * name takes its fields from `options`; `startDate`, `endDate` and `jitter` apply to any
 * schedule that has them. `'interval'` without a `startDate` starts now (APScheduler: the
 * first run is one period from now), where `interval()` is on the epoch grid.
 */
export function resolveTrigger(
  trigger: Schedule | TriggerName,
  options: Readonly<Record<string, unknown>>,
  now: number,
): { schedule: Schedule; rest: Record<string, unknown> } {
  const rest: Record<string, unknown> = { ...options };
  const take = (keys: readonly string[]): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const k of keys) {
      if (rest[k] !== undefined) out[k] = rest[k];
      delete rest[k];
    }
    return out;
  };
  let schedule: Schedule;
  if (typeof trigger === 'string') {
    if (!TRIGGER_NAMES.includes(trigger))
      throw invalidSchedule(
        `trigger must be a schedule (interval(), crontab(), cron(), oneOff(), every(), solar()) or one of ${TRIGGER_NAMES.map((n) => `'${n}'`).join(', ')}, got ${show(trigger)}`,
        'trigger',
        trigger,
      );
    const fields = take(KEYS[trigger]);
    if (trigger === 'interval') {
      schedule = interval(fields);
      rest['startDate'] ??= now;
    } else if (trigger === 'cron') {
      schedule = cron(fields);
    } else {
      schedule = oneOff((fields['runDate'] as DateInput | undefined) ?? now);
    }
  } else {
    if (typeof trigger !== 'object' || trigger === null)
      throw invalidSchedule(
        `trigger must be a schedule or a trigger name, got ${show(trigger)}`,
        'trigger',
        trigger,
      );
    schedule = trigger;
  }
  for (const k of TRIGGER_KEYS) {
    if (rest[k] !== undefined)
      throw invalidSchedule(
        `"${k}" is a field of ${TRIGGER_NAMES.filter((n) => KEYS[n].includes(k))
          .map((n) => `the '${n}' trigger`)
          .join(' and ')}, not of this job's trigger`,
        k,
        rest[k],
      );
    delete rest[k];
  }
  return { schedule: withRange(schedule, take(RANGE_KEYS)), rest };
}

/** The schedule with `startDate`, `endDate` and `jitter` applied, where its kind has them. */
export function withRange(schedule: Schedule, range: RangeOptions): Schedule {
  const given = RANGE_KEYS.filter((k) => range[k] !== undefined);
  if (given.length === 0) return schedule;
  const json = scheduleToJSON(schedule);
  switch (schedule.kind) {
    case 'interval':
    case 'crontab':
    case 'cron':
      return scheduleFromJSON({ ...json, ...compileRange(range, schedule.kind) });
    case 'every':
      if (range.endDate !== undefined && given.length === 1)
        return scheduleFromJSON({ ...json, endDate: instantOf(range.endDate, 'endDate') });
      break;
    case 'oneOff':
    case 'solar':
      break;
  }
  const bad = given.find((k) => k !== 'endDate' || schedule.kind !== 'every') ?? 'startDate';
  throw invalidSchedule(
    `${bad} does not apply to a${schedule.kind === 'every' ? 'n' : ''} ${schedule.kind} schedule${schedule.kind === 'every' ? ' (use interval() or cron() for startDate and jitter)' : ''}`,
    bad,
    range[bad],
  );
}
