import type { DateInput } from '../schedules/common.js';
import {
  every,
  type EveryBuilder,
  type EveryJob,
  type EverySchedule,
  type Weekday,
} from '../schedules/every.js';
import type { Job } from './job.js';

/**
 * An `every()` schedule that can be bound to a function: the `schedule` library's
 * `every(10).minutes.do(job)`. The chain methods are those of `EveryJob`, plus `tag()`; `do()`
 * adds the job.
 */
export interface EveryJobBinder extends EverySchedule {
  at(time: string, timezone?: string): EveryJobBinder;
  until(date: DateInput): EveryJobBinder;
  in(timezone: string): EveryJobBinder;
  /** Labels for `getJobs(tag)` and `clear(tag)`. */
  tag(...tags: string[]): EveryJobBinder;
  /** Adds the job: `fn(...args)` on this schedule. Resolves with the job once it is stored. */
  do<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): Promise<Job>;
}

type Unit = Exclude<keyof EveryBuilder, 'to'>;

/** `scheduler.every(n)`: `every(n)`, whose schedules have `do()`. */
export type SchedulerEveryBuilder = { to(maxInterval: number): SchedulerEveryBuilder } & {
  [K in Unit]: () => EveryJobBinder;
};

const UNITS: readonly Unit[] = [
  'second',
  'seconds',
  'minute',
  'minutes',
  'hour',
  'hours',
  'day',
  'days',
  'week',
  'weeks',
  ...([
    'monday',
    'tuesday',
    'wednesday',
    'thursday',
    'friday',
    'saturday',
    'sunday',
  ] satisfies Weekday[]),
];

/** How a bound schedule adds its job. */
export type AddEvery = (
  schedule: EveryJob,
  fn: (...args: never[]) => unknown,
  args: readonly unknown[],
  tags: readonly string[],
) => Promise<Job>;

/** `every(interval)` whose units return schedules with `tag()` and `do()`. */
export function bindEvery(interval: number | undefined, add: AddEvery): SchedulerEveryBuilder {
  return wrapBuilder(every(interval), add);
}

function wrapBuilder(b: EveryBuilder, add: AddEvery): SchedulerEveryBuilder {
  const out = { to: (max: number) => wrapBuilder(b.to(max), add) } as SchedulerEveryBuilder;
  for (const u of UNITS) out[u] = () => bind(b[u](), [], add);
  return out;
}

/** The schedule's data, with the chain methods non-enumerable (so it stores as the data). */
function bind(job: EveryJob, tags: readonly string[], add: AddEvery): EveryJobBinder {
  const o = { ...job } as EveryJobBinder;
  Object.defineProperties(o, {
    at: { value: (time: string, tz?: string) => bind(job.at(time, tz), tags, add) },
    until: { value: (date: DateInput) => bind(job.until(date), tags, add) },
    in: { value: (tz: string) => bind(job.in(tz), tags, add) },
    tag: { value: (...more: string[]) => bind(job, [...tags, ...more], add) },
    do: {
      value: (fn: (...args: never[]) => unknown, ...args: unknown[]) => add(job, fn, args, tags),
    },
  });
  return Object.freeze(o);
}
