"""Restores a group saved by Celeriac as Python Celery's GroupResult and waits for it.

usage: interop_group.py <group-id>
Prints one JSON line: the ids Python restored, its get() values and completed_count().
"""
import json
import sys

from celery.result import GroupResult

from interop_app import app


def main():
    g = GroupResult.restore(sys.argv[1], app=app)
    if g is None:
        print(json.dumps({"restored": False}))
        return 0
    values = g.get(timeout=30)
    print(json.dumps({
        "restored": True,
        "id": g.id,
        "ids": [r.id for r in g.results],
        "values": values,
        "completed": g.completed_count(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
