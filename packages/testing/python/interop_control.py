"""Celery's remote control against whatever workers share the broker (one JSON line out).

usage: interop_control.py <ping|active|registered|stats|control_ping|raw:NAME> [destination]
       interop_control.py revoke <task-id> <terminate|keep> [destination]
"""
import json
import sys

from interop_app import app


def timeout_for(destination):
    """With a destination Celery stops waiting once each named worker replied, so a long timeout
    costs nothing and only bounds a lost reply; a broadcast to all waits the whole window."""
    return 10 if destination else 2


def main():
    command = sys.argv[1]
    if command == "revoke":
        task_id, mode = sys.argv[2], sys.argv[3]
        destination = sys.argv[4:5] or None
        out = app.control.revoke(task_id, terminate=mode == "terminate", reply=True,
                                 timeout=timeout_for(destination), destination=destination)
    elif command == "control_ping":
        destination = sys.argv[2:3] or None
        out = app.control.ping(timeout=timeout_for(destination), destination=destination)
    else:
        destination = sys.argv[2:3] or None
        inspect = app.control.inspect(timeout=timeout_for(destination), destination=destination)
        if command.startswith("raw:"):  # any command name, known or not
            out = inspect._request(command[4:])
        else:
            out = getattr(inspect, command)()
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
