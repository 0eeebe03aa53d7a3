"""Attack (issue 21, 1b): return an object whose type is named after the inputs, so that the
message "returned a value of type ..." quotes a hidden case's inputs."""

import numpy as np


def secret(x):
    return type(repr(np.asarray(x).tolist()), (), {})()


def double(x):
    return 2 * x


def honest_double(x):
    return 2 * x
