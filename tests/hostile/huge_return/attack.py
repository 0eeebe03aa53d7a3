"""Attack: return ~80 MB of float64, over the 64 MiB return limit but under the memory limit."""

import numpy as np


def double(x):
    return np.full(10_000_000, 2.0)


def honest_double(x):
    return 2 * x
