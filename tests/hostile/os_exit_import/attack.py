"""Attack: os._exit at import time: the worker process ends without any reply."""

import os

os._exit(7)


def double(x):
    return 2 * x


def honest_double(x):
    return 2 * x
