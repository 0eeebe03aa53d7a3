"""Attack: allocate memory in a loop until something gives. Must hit the memory limit.

np.zeros takes fresh zeroed pages from the kernel, so the address space grows at once (that is
what the sandbox limits) without the time it takes to touch every page.
"""

import numpy as np


def double(x):
    hoard = []
    while True:
        hoard.append(np.zeros(16 * 1024 * 1024))  # 128 MiB


def honest_double(x):
    return 2 * x
