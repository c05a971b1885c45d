"""Builds a chord in Python Celery and prints its outcome as one JSON line.

usage: interop_chord.py <json-spec> [--timeout S]
The spec: {"header": [[name, args, queue], ...], "body": [name, args, queue],
           "body_errback": [name, args, queue] (optional: the body's link_error)}
Prints {"id", "group_id", "state", "result"} or {"id", "group_id", "state", "error_type",
"error_module", "error_message"}; "id" is the body's task id.
"""
import argparse
import json
import sys

from celery import chord, signature

from interop_app import app


def sig(spec):
    name, args, queue = spec
    return signature(name, args=args, queue=queue, app=app)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("spec")
    p.add_argument("--timeout", type=float, default=30)
    o = p.parse_args()
    spec = json.loads(o.spec)
    body = sig(spec["body"])
    if spec.get("body_errback"):
        body.on_error(sig(spec["body_errback"]))
    r = chord([sig(s) for s in spec["header"]])(body)
    group_id = r.parent.id if r.parent is not None else None
    try:
        value = r.get(timeout=o.timeout)
        print(json.dumps({"id": r.id, "group_id": group_id, "state": r.state, "result": value}))
    except Exception as exc:  # noqa: BLE001 - the test wants whatever was raised
        print(json.dumps({
            "id": r.id,
            "group_id": group_id,
            "state": r.state,
            "error_type": type(exc).__name__,
            "error_module": type(exc).__module__,
            "error_message": str(exc),
        }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
