"""Prints a task's state and info as Python Celery's AsyncResult sees them (one JSON line).

usage: interop_result.py <task-id>
"""
import json
import sys

from interop_app import app


def main():
    r = app.AsyncResult(sys.argv[1])
    info = r.info
    if isinstance(info, BaseException):
        info = {"error_type": type(info).__name__, "error_message": str(info)}
    print(json.dumps({"id": r.id, "state": r.state, "info": info}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
