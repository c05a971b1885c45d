"""The Python Celery publisher/client of `npm run bench:amqp` (Debian's /usr/bin/python3).

Started by bench/amqp/run.js with the same environment as celery_app.py; it answers commands on
file descriptor 3, one JSON object a line (see bench/amqp/lib/driver.js for the protocol).

Publishing is `noop.apply_async()` in a plain loop. Celery's apply_async is synchronous, and with
Celery's defaults kombu publishes without publisher confirms: the call returns once the frame is
written to the socket, so there is no round trip for threads to overlap; threads would only
contend for the GIL. "Concurrent" (W1, W2, W3b) and "one by one" (W3a) are therefore the same
loop; W3a' repeats the one-by-one loop with kombu's `confirm_publish` transport option, which
waits for RabbitMQ's confirm of each message, as Celeriac's `await r.published` does.
"""
import json
import os
import socket
import sys
import time
import traceback

os.environ.setdefault("BENCH_QUEUE", "celery")
from celery_app import app, noop  # noqa: E402

chan = socket.socket(fileno=3)
ids = []  # published since the last verify
result_ids = []  # every task that may have a stored result, for cleanup on a shared Redis


def send(msg):
    chan.sendall((json.dumps(msg) + "\n").encode())


def publish(n):
    t0 = time.perf_counter()
    for _ in range(n):
        ids.append(noop.apply_async().id)
    result_ids.extend(ids[-n:])
    return time.perf_counter() - t0


_confirm = None


def publish_confirmed(n):
    """One by one, each waiting for RabbitMQ's publisher confirm (kombu's confirm_publish)."""
    global _confirm
    if _confirm is None:
        conn = app.connection_for_write(transport_options={"confirm_publish": True})
        conn.ensure_connection(max_retries=3)
        _confirm = (conn, conn.Producer(auto_declare=False))
    producer = _confirm[1]
    t0 = time.perf_counter()
    for _ in range(n):
        noop.apply_async(producer=producer)
    return time.perf_counter() - t0


def round_trips(n, warmup, timeout):
    for _ in range(warmup):
        r = noop.delay()
        result_ids.append(r.id)
        r.get(timeout=timeout)
    lat = []
    for _ in range(n):
        t = time.perf_counter()
        r = noop.delay()
        result_ids.append(r.id)
        r.get(timeout=timeout)
        lat.append((time.perf_counter() - t) * 1000)
    return lat


def verify(n, timeout):
    """Every published task has a SUCCESS result None, read back through the backend."""
    backend = app.backend
    success = missing = 0
    other = {}
    scheme = app.conf.result_backend.split(":", 1)[0]
    if scheme == "rpc":
        # Results wait in this client's reply queue (nothing read them during the run): drain it.
        from kombu import Consumer

        want = set(ids)
        seen = {}
        deadline = time.time() + timeout

        def on_message(body, message):
            if isinstance(body, dict) and body.get("task_id") in want:
                seen[body["task_id"]] = body

        with app.connection_for_read() as conn:
            with Consumer(conn, [backend.binding], callbacks=[on_message], no_ack=True, accept=["json"]):
                while len(seen) < len(want) and time.time() < deadline:
                    try:
                        conn.drain_events(timeout=1)
                    except socket.timeout:
                        pass
        for tid in ids:
            body = seen.get(tid)
            if body is None:
                missing += 1
            elif body.get("status") == "SUCCESS" and body.get("result") is None:
                success += 1
            else:
                other[body.get("status")] = other.get(body.get("status"), 0) + 1
    else:
        client = backend.client
        for i in range(0, len(ids), 1000):
            keys = [backend.get_key_for_task(t) for t in ids[i : i + 1000]]
            for raw in client.mget(keys):
                if raw is None:
                    missing += 1
                    continue
                doc = json.loads(raw)
                if doc.get("status") == "SUCCESS" and doc.get("result") is None:
                    success += 1
                else:
                    other[doc.get("status")] = other.get(doc.get("status"), 0) + 1
    ok = len(ids) == n and success == n
    detail = "published=%d SUCCESS=%d missing=%d other=%s" % (len(ids), success, missing, json.dumps(other))
    ids.clear()
    return ok, detail


def main():
    # Connect (and declare the queue and, for rpc://, the reply queue) before saying ready.
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=3)
    app.amqp.queues[app.conf.task_default_queue]  # the default queue, declared on first publish
    with app.producer_or_acquire() as producer:
        app.amqp.queues[app.conf.task_default_queue].bind(producer.channel).declare()
    reply_to = app.backend.oid if app.conf.result_backend.startswith("rpc") else None
    send({"type": "ready", "pid": os.getpid(), "replyTo": reply_to})
    f = chan.makefile("rb")
    for line in f:
        msg = json.loads(line)
        cmd = msg.get("cmd")
        try:
            if cmd == "publish":
                send({"type": "published", "seconds": publish(int(msg["n"]))})
            elif cmd == "publishSequential":
                # Same loop as "publish": apply_async returns once written (no confirm).
                n = int(msg["n"])
                t = publish(n)
                del result_ids[-n:]
                ids.clear()
                send({"type": "published", "seconds": t})
            elif cmd == "publishConfirmed":
                send({"type": "published", "seconds": publish_confirmed(int(msg["n"]))})
            elif cmd == "discard":
                if ids:
                    del result_ids[-len(ids):]
                ids.clear()
                send({"type": "discarded"})
            elif cmd == "roundTrips":
                lat = round_trips(int(msg["n"]), int(msg["warmup"]), float(msg["timeoutMs"]) / 1000)
                send({"type": "roundTrips", "latenciesMs": lat})
            elif cmd == "resultIds":
                send({"type": "resultIds", "ids": result_ids})
            elif cmd == "verify":
                ok, detail = verify(int(msg["n"]), float(msg.get("timeoutMs", 30000)) / 1000)
                send({"type": "verified", "ok": ok, "detail": detail})
            elif cmd == "close":
                send({"type": "closed"})
                break
            else:
                send({"type": "error", "message": "unknown command %r" % (msg,)})
        except Exception:
            send({"type": "error", "message": traceback.format_exc()})
    try:
        app.close()
    finally:
        os._exit(0)


if __name__ == "__main__":
    main()
