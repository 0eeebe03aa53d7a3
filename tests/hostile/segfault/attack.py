"""Attack: crash the interpreter with a segmentation fault (read address 0)."""

import ctypes


def double(x):
    return ctypes.string_at(0)


def honest_double(x):
    return 2 * x
