"""Attack: find processes it may signal (kill -0 on every pid): the grader, the fork server, other
workers. Only its own process (and children) may be reachable. Raises `PROBE {...}`."""

import json
import os


def double(x):
    me = os.getpid()
    reachable = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            os.kill(int(pid), 0)
            reachable.append(int(pid))
        except OSError:
            pass
    raise Exception("PROBE " + json.dumps({"me": me, "uid": os.getuid(), "parent": os.getppid(), "reachable": reachable}))


def honest_double(x):
    return 2 * x
