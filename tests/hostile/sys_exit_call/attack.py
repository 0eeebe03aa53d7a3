"""Attack: sys.exit inside the graded function."""

import sys


def double(x):
    sys.exit(4)


def honest_double(x):
    return 2 * x
