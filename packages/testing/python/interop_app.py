"""A Python Celery app for Celeriac's interop tests (run with Debian's /usr/bin/python3).

Configured from the environment so a test can point it at its own Redis:
BROKER_URL, RESULT_BACKEND, SERIALIZER (json|msgpack), RESULT_SERIALIZER (json|msgpack),
VISIBILITY_TIMEOUT (seconds), ACCEPT_CONTENT (comma-separated, default json,msgpack).
Tasks are named py.* and consumed from the queue named by the worker's -Q.
"""
import os
import time

from celery import Celery

app = Celery("interop", broker=os.environ["BROKER_URL"], backend=os.environ.get("RESULT_BACKEND"))
app.conf.update(
    task_serializer=os.environ.get("SERIALIZER", "json"),
    result_serializer=os.environ.get("RESULT_SERIALIZER", "json"),
    accept_content=os.environ.get("ACCEPT_CONTENT", "json,msgpack").split(","),
    result_accept_content=["json", "msgpack"],
    broker_transport_options={"visibility_timeout": float(os.environ.get("VISIBILITY_TIMEOUT", "3600"))},
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    task_acks_late=True,
    worker_prefetch_multiplier=1,
)


@app.task(name="py.add")
def add(a, b):
    return a + b


@app.task(name="py.fail")
def fail(message):
    raise ValueError(message)


@app.task(name="py.echo")
def echo(*args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}


@app.task(name="py.sleep")
def sleep(seconds, marker=None):
    time.sleep(seconds)
    return marker


import interop_canvas_tasks  # noqa: E402,F401 - registers py.tsum and the other canvas tasks
import interop_tracing  # noqa: E402,F401 - registers py.traceparent
