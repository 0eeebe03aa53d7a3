"""Attack: fork sleeping children in a loop. Must stop at the process limit; none may survive.

At most 64 children (four times the limit), so that a sandbox without the limit shows it quickly.
"""

import os
import time


def double(x):
    children = []
    try:
        while len(children) < 64:
            pid = os.fork()
            if pid == 0:
                try:
                    time.sleep(600)
                finally:
                    os._exit(0)
            children.append(pid)
    finally:
        print(f"PROBE uid={os.getuid()} forked={len(children)} pids={','.join(map(str, children))}", flush=True)
    return 2 * x


def honest_double(x):
    return 2 * x
