"""Not an attack: a correct submission whose `double` imports standard-library modules that the
fork server does not preload. Must get full marks: the sandbox must not break the standard library
(e.g. an interpreter installed under a folder the worker's user cannot enter)."""

import importlib

MODULES = ("sysconfig", "fractions", "statistics", "csv", "decimal", "heapq", "bisect", "encodings.idna",
           "numpy.testing")


def double(x):
    for name in MODULES:
        importlib.import_module(name)
    return 2 * x


def honest_double(x):
    return 2 * x
