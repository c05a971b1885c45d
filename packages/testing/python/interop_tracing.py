"""OpenTelemetry's W3C trace context on Celery's wire, as opentelemetry-instrumentation-celery
puts it there (its packages are not installed here; this does what it does on the wire).

- The instrumentation's before_task_publish injects `traceparent` (and `tracestate`) into the
  task message headers; `main()` sends a task with such headers via apply_async.
- Its task_prerun extracts them from `task.request` (getattr, one attribute per header);
  the task `py.traceparent` returns what it would extract.

usage: interop_tracing.py <task-name> <json-args> --queue Q --traceparent TP [--tracestate TS]
Prints {"id"} once the task is published.
"""
import argparse
import json

from interop_app import app


@app.task(name="py.traceparent", bind=True)
def traceparent(self):
    return {
        "traceparent": getattr(self.request, "traceparent", None),
        "tracestate": getattr(self.request, "tracestate", None),
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("name")
    p.add_argument("args")
    p.add_argument("--queue", default="celery")
    p.add_argument("--traceparent", required=True)
    p.add_argument("--tracestate")
    o = p.parse_args()
    headers = {"traceparent": o.traceparent}
    if o.tracestate:
        headers["tracestate"] = o.tracestate
    r = app.signature(o.name, args=json.loads(o.args)).apply_async(queue=o.queue, headers=headers)
    print(json.dumps({"id": r.id}))


if __name__ == "__main__":
    main()
