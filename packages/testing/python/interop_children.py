"""Reads a task's `children` with Python Celery (celery.result.AsyncResult.children).

usage: interop_children.py <task-id> [--timeout S]
Waits for the task, then prints one JSON line:
{"children": [{"type": "AsyncResult" | "GroupResult", "id": ..., "results": [ids] | null}]}
"""
import argparse
import json
import sys

from celery.result import GroupResult

from interop_app import app


def main():
    p = argparse.ArgumentParser()
    p.add_argument("task_id")
    p.add_argument("--timeout", type=float, default=30)
    o = p.parse_args()
    r = app.AsyncResult(o.task_id)
    r.get(timeout=o.timeout)
    out = []
    for child in r.children or []:
        out.append({
            "type": type(child).__name__,
            "id": child.id,
            "results": [c.id for c in child.results] if isinstance(child, GroupResult) else None,
        })
    print(json.dumps({"children": out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
