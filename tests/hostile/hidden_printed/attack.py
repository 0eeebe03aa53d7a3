"""Attack (issue 21, 1a): print a hidden case's inputs, at once and later from a thread, and keep
them for the next call, hoping to read them under "What your code printed" or in the result of a
public call graded after the hidden one (``honest_double``, whose problem comes after ``secret``'s)."""

import threading
import time

import numpy as np

SEEN: list[str] = []


def secret(x):
    SEEN.append(repr(np.asarray(x).tolist()))
    print("PROBE seen=" + "|".join(SEEN), flush=True)

    def later() -> None:
        time.sleep(0.3)
        print("PROBE later=" + "|".join(SEEN), flush=True)

    threading.Thread(target=later, daemon=True).start()
    return x  # wrong (the reference triples): the hidden case fails, which is what shows a message


def double(x):
    return 2 * x


def honest_double(x):
    # Right, and says whatever an earlier call of this process kept.
    print("PROBE kept=" + "|".join(SEEN), flush=True)
    time.sleep(0.5)  # time for the thread of a hidden call, had it run in this worker
    return 2 * x
