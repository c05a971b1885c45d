"""Prints every Celery event on the broker as one JSON line, through Celery's own
app.events.Receiver (what Flower, `celery events` and celery-exporter use).

Prints {"ready": true} once the receiver has been draining for one full poll (on Redis the
pattern subscription is made on the first drain), then one line per event, until killed.
The event is printed as the handler got it (after Receiver.event_from_message).
"""
import json
import sys

from interop_app import app


def main():
    iterations = [0]

    def on_event(event):
        print(json.dumps({"event": event}, default=str), flush=True)

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
