"""Attack: at import, read the command line of every process in /proc (the grader's, the
instructor's shell's, system services'), then report them from `double` as `PROBE {...}`.

With namespaces the worker has a /proc of its own: it must see only its own processes.
"""

import json
import os


def _command_lines() -> dict:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as stream:
                    found[entry] = stream.read().replace(b"\0", b" ").decode(errors="replace").strip()[:200]
            except OSError as error:
                found[entry] = f"error{error.errno}"
    return found


SEEN = _command_lines()


def double(x):
    raise Exception("PROBE " + json.dumps({"pid": os.getpid(), "processes": SEEN,
                                           "dev": sorted(os.listdir("/dev")), "sys": sorted(os.listdir("/sys"))}))


def honest_double(x):
    return 2 * x
