"""Attack: sys.exit at import time."""

import sys

sys.exit(3)


def double(x):
    return 2 * x


def honest_double(x):
    return 2 * x
