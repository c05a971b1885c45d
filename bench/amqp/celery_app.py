"""The Python Celery side of `npm run bench:amqp` (run with Debian's /usr/bin/python3).

One no-op task, `bench.noop`, returning None (Celeriac's bench task returns null). Configured from
the environment by bench/amqp/run.js:

  BENCH_BROKER_URL   amqp://... (the throwaway RabbitMQ node, or --amqp-url)
  BENCH_BACKEND_URL  rpc:// or redis://...
  BENCH_QUEUE        the run's own queue

Settings are Celery's defaults except what the bench needs to match Celeriac's defaults:
`task_acks_late=True` (Celeriac acks after the task ran and its result was stored).
`worker_prefetch_multiplier` stays 4 (Celeriac's prefetch is concurrency x 4 too).

When this module runs inside `celery worker`, it talks to the bench over file descriptor 3 (a
socket pair the bench opened), one JSON object a line:
  bench -> worker  {"cmd": "watch", "target": n}  -> {"type": "watching"}, later {"type": "reached", ...}
                   {"cmd": "start", "queue": q}    -> add a consumer for q (remote control), {"type": "started"}
  worker -> bench  {"type": "ready", "hostname": ...} once the consumer is up (worker_ready)
A task counts as done when the worker acks its message (`Request.acknowledge`), which with
acks_late happens after the task ran and its result was stored: the same point at which
Celeriac's `worker.processed` moves. With the prefork pool, the ack happens in the parent process
(the pool's result callback), so one counter sees every task.
"""
import json
import os
import socket
import sys
import threading
import time

from celery import Celery, signals
from celery.worker.request import Request

app = Celery("bench", broker=os.environ["BENCH_BROKER_URL"], backend=os.environ["BENCH_BACKEND_URL"])
app.conf.update(
    task_default_queue=os.environ.get("BENCH_QUEUE", "celery"),
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


# --- done counting (worker process) ------------------------------------------------------------

_lock = threading.Lock()
_done = 0
_watch = None  # (base, target, t0 perf_counter)
_chan = None  # the socket on fd 3, when running under the bench


def _send(msg):
    if _chan is None:
        return
    data = (json.dumps(msg) + "\n").encode()
    with _send_lock:
        _chan.sendall(data)


_send_lock = threading.Lock()


def _count():
    global _done, _watch
    with _lock:
        _done += 1
        w = _watch
        if w is None or _done - w[0] < w[1]:
            return
        _watch = None
        done = _done - w[0]
    _send({"type": "reached", "done": done, "seconds": time.perf_counter() - w[2]})


class CountingRequest(Request):
    """Celery's Request, counting each task once its message is acked.

    With acks_late, the worker acks in the request's on_success callback, after the task ran and
    its result was stored. (on_success itself cannot be overridden: the worker's strategy
    subclasses the request class with an on_success of its own; acknowledge is inherited.)
    """

    def acknowledge(self):
        first = not self.acknowledged
        super().acknowledge()
        if first:
            _count()


class BenchTask(app.Task):
    Request = CountingRequest


@app.task(name="bench.noop", base=BenchTask)
def noop():
    return None


# --- control channel (worker process) ----------------------------------------------------------

_hostname = None


def _control_loop():
    global _watch
    f = _chan.makefile("rb")
    for line in f:
        try:
            msg = json.loads(line)
            cmd = msg.get("cmd")
            if cmd == "watch":
                with _lock:
                    _watch = (_done, int(msg["target"]), time.perf_counter())
                _send({"type": "watching"})
            elif cmd == "start":
                # Start consuming the queue now (the worker began on an empty placeholder queue),
                # through Celery's own remote control, and wait for the worker's answer.
                replies = app.control.add_consumer(
                    msg["queue"], destination=[_hostname], reply=True, timeout=10
                )
                if not replies:
                    raise RuntimeError("add_consumer got no reply")
                _send({"type": "started", "replies": replies})
            else:
                _send({"type": "error", "message": "unknown command %r" % (msg,)})
        except Exception as exc:  # report, keep serving
            _send({"type": "error", "message": repr(exc)})
    # The bench went away: stop (warm shutdown), and for good after 5 s, since a threads pool's
    # warm shutdown can hang.
    threading.Timer(5, lambda: os._exit(1)).start()
    os.kill(os.getpid(), 15)


@signals.worker_ready.connect
def _on_ready(sender=None, **kwargs):
    global _chan, _hostname
    if os.environ.get("BENCH_CONTROL_FD") != "3":
        return
    _hostname = sender.hostname
    _chan = socket.socket(fileno=3)
    threading.Thread(target=_control_loop, name="bench-control", daemon=True).start()
    _send({"type": "ready", "hostname": _hostname, "pid": os.getpid()})
