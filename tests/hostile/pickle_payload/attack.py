"""Attack: return objects that run code when unpickled: an object-dtype array of them, and one bare.

If the grader ever unpickled what a worker sends, the marker file named in probe.json (a path
only the grader's own user can write) would appear.
"""

import json
import os

import numpy as np


def _marker() -> str:
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe.json")) as stream:
        return json.load(stream)["marker"]


class Payload:
    def __reduce__(self):
        return (open, (_marker(), "w"))


def double(x):
    evil = np.empty(len(x), dtype=object)
    evil[:] = [Payload() for _ in range(len(x))]
    return evil, Payload()


def honest_double(x):
    return 2 * x
