"""Canvas from Python Celery against Celeriac tasks; prints the outcome as one JSON line.

usage: interop_canvas.py <case> --js-queue Q [--py-queue Q] [--errback-id ID] [--timeout S]
cases:
  chunks     chunks(js.add, zip(range(10), range(10)), 3) -> {"result": [[...], ...]}
  map        xmap(js.double, [1, 2, 3])                   -> {"result": [...]}
  starmap    xstarmap(js.add, [[1, 2], [3, 4]])           -> {"result": [...]}
  link_error js.fail("boom") with link_error=py.echo (task id --errback-id)
             -> {"failed_id", "error_type", "errback": <py.echo's result>}
  chain      py.add(1, 2) | js.add(3) | py.add(4)          -> {"result": 10}
"""
import argparse
import json
import sys

from celery import chain, chunks, xmap, xstarmap

from interop_app import app


def main():
    p = argparse.ArgumentParser()
    p.add_argument("case")
    p.add_argument("--js-queue", required=True)
    p.add_argument("--py-queue", default="celery")
    p.add_argument("--errback-id")
    p.add_argument("--timeout", type=float, default=30)
    o = p.parse_args()
    js = lambda name, *args: app.signature(name, args, queue=o.js_queue)  # noqa: E731
    py = lambda name, *args: app.signature(name, args, queue=o.py_queue)  # noqa: E731
    if o.case == "chunks":
        r = chunks(js("js.add"), zip(range(10), range(10)), 3).apply_async(queue=o.js_queue)
        out = {"result": r.get(timeout=o.timeout)}
    elif o.case == "map":
        r = xmap(js("js.double"), [1, 2, 3]).apply_async(queue=o.js_queue)
        out = {"result": r.get(timeout=o.timeout)}
    elif o.case == "starmap":
        r = xstarmap(js("js.add"), [[1, 2], [3, 4]]).apply_async(queue=o.js_queue)
        out = {"result": r.get(timeout=o.timeout)}
    elif o.case == "link_error":
        errback = py("py.echo").set(task_id=o.errback_id)
        r = js("js.fail", "boom").apply_async(link_error=errback)
        out = {"failed_id": r.id}
        try:
            r.get(timeout=o.timeout)
            out["error_type"] = None
        except Exception as exc:  # noqa: BLE001 - the test wants whatever was raised
            out["error_type"] = type(exc).__name__
        out["errback"] = app.AsyncResult(o.errback_id).get(timeout=o.timeout)
    elif o.case == "chain":
        r = chain(py("py.add", 1, 2), js("js.add", 3), py("py.add", 4)).apply_async()
        out = {"result": r.get(timeout=o.timeout)}
    else:
        raise SystemExit(f"unknown case {o.case}")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
