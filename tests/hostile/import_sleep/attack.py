"""Attack: importing the module takes forever. Must hit the import time limit."""

import time

time.sleep(100)


def double(x):
    return 2 * x


def honest_double(x):
    return 2 * x
