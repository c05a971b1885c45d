"""Prints every Celery event on the broker as one JSON line, through Celery's own
app.events.Receiver (what Flower, `celery events` and celery-exporter use).

Prints {"ready": true} once the receiver has been draining for one full poll (on Redis the
pattern subscription is made on the first drain), then one line per event, until killed.
The event is printed as the handler got it (after Receiver.event_from_message), with "seen":
what Celery's own events State (celery.events.state, which celery-exporter and Flower keep)
makes of it: the task's name, hostname, queue, state, runtime and exception, or the worker's
alive and active.
"""
import json
import sys

from interop_app import app


def main():
    iterations = [0]

    state = app.events.State()

    def on_event(event):
        event = dict(event)
        state.event(dict(event))
        seen = None
        if event["type"].startswith("task-"):
            task = state.tasks.get(event["uuid"])
            if task is not None:
                seen = {k: getattr(task, k, None) for k in
                        ("name", "hostname", "queue", "state", "runtime", "exception", "result")}
        elif event["type"].startswith("worker-"):
            worker = state.workers.get(event["hostname"])
            if worker is not None:
                seen = {"alive": worker.alive, "active": worker.active, "freq": worker.freq}
        print(json.dumps({"event": dict(event, seen=seen)}, default=str), flush=True)

    with app.connection() as connection:
        receiver = app.events.Receiver(connection, handlers={"*": on_event})

        def on_iteration():
            iterations[0] += 1
            if iterations[0] == 2:
                print(json.dumps({"ready": True}), flush=True)

        receiver.on_iteration = on_iteration
        receiver.capture(limit=None, timeout=None, wakeup=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
