"""Sends one task whose body a worker cannot decode, waits for its result, prints one JSON line.

usage: interop_undecodable.py <task-name> <queue> <pickle|corrupt-json|corrupt-msgpack> [--timeout S]
- pickle: a genuine pickle body (application/x-python-serialize), which workers refuse unless
  they accept pickle;
- corrupt-json / corrupt-msgpack: a body under that content type that its decoder rejects
  (a truncated document), sent through a kombu serializer registered for the purpose.
Prints {"id", "state", "error_type", "error_module", "error_message"} when get() raised,
{"id", "state", "result"} when it returned.
"""
import argparse
import json
import sys

import msgpack
from kombu.serialization import register
from kombu.utils.json import loads as json_loads

from interop_app import app

# Same content types as kombu's json and msgpack, so the decoders stay real ones; only the
# encoder lies, writing the start of a document and no more.
register("corrupt-json", lambda _body: "[[1, 2], {", json_loads,
         content_type="application/json", content_encoding="utf-8")
register("corrupt-msgpack", lambda _body: b"\x93\x90", lambda b: msgpack.unpackb(b, raw=False),
         content_type="application/x-msgpack", content_encoding="binary")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("name")
    p.add_argument("queue")
    p.add_argument("kind", choices=["pickle", "corrupt-json", "corrupt-msgpack"])
    p.add_argument("--timeout", type=float, default=20)
    o = p.parse_args()
    r = app.send_task(o.name, args=[1, 2], queue=o.queue, serializer=o.kind)
    try:
        value = r.get(timeout=o.timeout)
        print(json.dumps({"id": r.id, "state": r.state, "result": value}))
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
