"""Reference of the batch tests' tiny assignment."""

import numpy as np


def total(x):
    return float(np.sum(x))


def scaled(x):
    return np.asarray(x) * 3.0
