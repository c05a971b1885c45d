"""Nested canvas from Python Celery whose first step runs on a Celeriac worker.

usage: interop_nesting.py <case> --js-queue Q --py-queue Q [--timeout S]
Each case starts with js.add(1, 1) on the Celeriac worker, which sends the rest (Celery's
dict forms) from its chain field; prints {"result": ...} as one JSON line.
cases:
  chain_group       js.add(1, 1) | group(py.add(10), js.add(20))              -> [12, 22]
  chain_chord       js.add(1, 1) | chord([py.add(10), js.add(20)], py.tsum)   -> 34
  chain_chord_js    js.add(1, 1) | chord([py.add(10), js.add(20)], js.tsum)   -> 34
  group_then_task   js.add(1, 1) | group(py.add(1), js.add(2)) | js.tsum      -> 7 (a chord)
  chord_chain_body  js.add(1, 1) | chord([js.add(1), py.add(2)], js.tsum | py.add(100)) -> 107
"""
import argparse
import json
import sys

from celery import chord, group

from interop_app import app


def main():
    p = argparse.ArgumentParser()
    p.add_argument("case")
    p.add_argument("--js-queue", required=True)
    p.add_argument("--py-queue", required=True)
    p.add_argument("--timeout", type=float, default=30)
    o = p.parse_args()
    js = lambda name, *args: app.signature(name, args, queue=o.js_queue)  # noqa: E731
    py = lambda name, *args: app.signature(name, args, queue=o.py_queue)  # noqa: E731
    first = js("js.add", 1, 1)
    if o.case == "chain_group":
        workflow = first | group(py("py.add", 10), js("js.add", 20))
    elif o.case == "chain_chord":
        workflow = first | chord([py("py.add", 10), js("js.add", 20)], py("py.tsum"))
    elif o.case == "chain_chord_js":
        workflow = first | chord([py("py.add", 10), js("js.add", 20)], js("js.tsum"))
    elif o.case == "group_then_task":
        workflow = first | group(py("py.add", 1), js("js.add", 2)) | js("js.tsum")
    elif o.case == "chord_chain_body":
        workflow = first | chord([js("js.add", 1), py("py.add", 2)], js("js.tsum") | py("py.add", 100))
    else:
        raise SystemExit(f"unknown case {o.case}")
    r = workflow.apply_async()
    print(json.dumps({"result": r.get(timeout=o.timeout)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
