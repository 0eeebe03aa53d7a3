"""Attack: list the file descriptors the worker inherited. Anything besides stdin/stdout/stderr
and the two ends of the grader's channel is a handle into the grader's machinery (e.g. the fork
server's event loop) that student code can use. Raises `PROBE {...}`."""

import json
import os


def double(x):
    found = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            found[name] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            pass  # the descriptor listdir itself used
    raise Exception("PROBE " + json.dumps(found, separators=(",", ":")))


def honest_double(x):
    return 2 * x
