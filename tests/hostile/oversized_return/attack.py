"""Attack: return a 320 MB array: over the 64 MiB return limit, and large enough that the worker
cannot make a serialised copy of it within the 512 MiB memory limit. The answer must be "more than
the limit" (the size is known before anything is copied), not a crash."""

import numpy as np


def double(x):
    return np.zeros(40_000_000)  # 320 MB of address space; zero pages, so it costs no time


def honest_double(x):
    return 2 * x
