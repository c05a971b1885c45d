"""Runs `celery -A interop_app ...` command lines in one Python process (one JSON line out).

usage: interop_cli.py '<json list of steps>'
A step is a list of CLI arguments (after `celery -A interop_app`), run through Celery's own
click command as `python -m celery` would run it, or a dict:
  {"until_listed": [cli args...], "seconds": N}: runs the command line (with --json) until a
  worker's reply lists something, for at most N seconds (a Celeriac worker holds only ETAs
  due within a second in memory: the test keeps sending such tasks meanwhile).
Each result is {"args", "exit", "out", "err"}; `out` is what the command printed.
"""
import contextlib
import io
import json
import sys
import time

from celery.bin.celery import celery as celery_cli

import interop_app  # noqa: F401 - the app the command lines name with -A


def run(args):
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            celery_cli.main(args=["-A", "interop_app", *args], prog_name="celery", standalone_mode=False)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except Exception as e:  # click's ClickException and Celery's CeleryCommandException
            code = getattr(e, "exit_code", 1)
            err.write(f"{type(e).__name__}: {getattr(e, 'message', e)}\n")
    return {"args": args, "exit": code, "out": out.getvalue(), "err": err.getvalue()}


def has_listed(result):
    try:
        replies = json.loads(result["out"])
    except ValueError:
        return False
    return any(replies.values())


def main():
    results = []
    for step in json.loads(sys.argv[1]):
        if isinstance(step, dict):
            deadline = time.monotonic() + step["seconds"]
            result = run(step["until_listed"])
            while not has_listed(result) and time.monotonic() < deadline:
                time.sleep(0.02)
                result = run(step["until_listed"])
            results.append(result)
        else:
            results.append(run(step))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
