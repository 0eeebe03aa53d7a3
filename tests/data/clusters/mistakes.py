"""Mistakes of the clusters tests' class; `plus_one` is declared by the test only."""

import numpy as np


def scaled__doubled(x):
    return np.asarray(x) * 2.0


def scaled__negated(x):
    return np.asarray(x) * -3.0


def scaled__plus_one(x):
    return np.asarray(x) * 3.0 + 1.0
