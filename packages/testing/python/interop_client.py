"""Sends one task from Python Celery and prints the outcome as one JSON line.

usage: interop_client.py <task-name> <json-args> [--kwargs JSON] [--queue Q] [--priority N]
                         [--countdown S] [--expires S] [--serializer json|msgpack]
                         [--timeout S] [--no-wait] [--task-id ID] [--repr]
Prints {"id", "state", "result"} or {"id", "state", "error_type", "error_module", "error_message"}.
With --repr, "result" is Python's repr() of the value (for values strict JSON cannot hold:
NaN, Infinity, integers beyond 2^53), so the test reads exactly what Python got.
"""
import argparse
import json
import sys

from interop_app import app


def main():
    p = argparse.ArgumentParser()
    p.add_argument("name")
    p.add_argument("args")
    p.add_argument("--kwargs", default="{}")
    p.add_argument("--queue", default="celery")
    p.add_argument("--priority", type=int)
    p.add_argument("--countdown", type=float)
    p.add_argument("--expires", type=float)
    p.add_argument("--serializer", default="json")
    p.add_argument("--timeout", type=float, default=20)
    p.add_argument("--no-wait", action="store_true")
    p.add_argument("--task-id")
    p.add_argument("--repr", action="store_true")
    o = p.parse_args()
    options = {"queue": o.queue, "serializer": o.serializer}
    if o.priority is not None:
        options["priority"] = o.priority
    if o.countdown is not None:
        options["countdown"] = o.countdown
    if o.expires is not None:
        options["expires"] = o.expires
    if o.task_id:
        options["task_id"] = o.task_id
    r = app.send_task(o.name, args=json.loads(o.args), kwargs=json.loads(o.kwargs), **options)
    if o.no_wait:
        print(json.dumps({"id": r.id, "state": "SENT"}))
        return 0
    try:
        value = r.get(timeout=o.timeout)
        shown = repr(value) if o.repr else value
        print(json.dumps({"id": r.id, "state": r.state, "result": shown}))
    except Exception as exc:  # noqa: BLE001 - the test wants whatever was raised
        print(json.dumps({
            "id": r.id,
            "state": r.state,
            "error_type": type(exc).__name__,
            "error_module": type(exc).__module__,
            "error_message": str(exc),
        }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
