"""Attack: os._exit inside the graded function: the worker dies mid-call."""

import os


def double(x):
    os._exit(9)


def honest_double(x):
    return 2 * x
