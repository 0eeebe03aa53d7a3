"""Reference for the sandbox test spec (tests/test_sandbox.py): trivially doubles its input."""

import numpy as np


def double(x):
    return 2 * np.asarray(x)


def honest_double(x):
    return 2 * np.asarray(x)


def secret(x):
    return 3 * np.asarray(x)
