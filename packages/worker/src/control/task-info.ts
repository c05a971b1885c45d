import type { Delivery, TaskMessage } from '@celeriac/core';
import type { InFlight } from '../in-flight.js';

/**
 * One task as `celery inspect active|reserved|scheduled|query_task` lists it (Celery's
 * `Request.info()`): `time_start` and `worker_pid` are null until it runs.
 */
export interface TaskInfo {
  id: string;
  name: string;
  args: readonly unknown[];
  kwargs: Record<string, unknown>;
  type: string;
  hostname: string;
  time_start: number | null;
  acknowledged: boolean;
  delivery_info: {
    exchange: string;
    routing_key: string;
    priority: number | null;
    redelivered: boolean;
  };
  worker_pid: number | null;
}

/** A task held for its ETA, as `celery inspect scheduled` lists it. */
export interface ScheduledInfo {
  /** ISO-8601, as the message's `eta` header says it. */
  eta: string | null;
  priority: number;
  request: TaskInfo;
}

/** A task's `Request.info()`, from its message and delivery. */
export function taskInfo(
  msg: TaskMessage,
  delivery: Delivery,
  hostname: string,
  run?: { startedAt: number; acked: boolean },
): TaskInfo {
  const priority = delivery.message.properties.priority;
  return {
    id: msg.headers.id,
    name: msg.headers.task,
    args: msg.args,
    kwargs: msg.kwargs,
    type: msg.headers.task,
    hostname,
    time_start: run ? run.startedAt / 1000 : null,
    acknowledged: run?.acked ?? false,
    delivery_info: {
      exchange: '',
      routing_key: delivery.queue,
      priority: typeof priority === 'number' ? priority : null,
      redelivered: delivery.redelivered,
    },
    worker_pid: run ? process.pid : null,
  };
}

/** A running task as `celery inspect active` lists it; none for a message not started yet. */
export function activeTaskInfo(entry: InFlight, hostname: string): TaskInfo[] {
  const m = entry.msg;
  if (!m) return [];
  return [taskInfo(m, entry.delivery, hostname, entry)];
}
