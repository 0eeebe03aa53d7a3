"""Attack: replace numpy's and json's comparison/serialisation helpers, then return a WRONG answer.

Only the worker's own copies of these modules can be patched; the comparison happens in the
grader, so the answer must still score 0.
"""

import json

import numpy as np


def _true(*args, **kwargs):
    return True


def _none(*args, **kwargs):
    return None


def _all_true(a, *args, **kwargs):
    return np.ones(np.shape(a), dtype=bool)


def double(x):
    np.allclose = _true
    np.array_equal = _true
    np.array_equiv = _true
    np.isclose = _all_true
    try:  # numpy.testing may not be importable in the sandbox (it needs sysconfig)
        import numpy.testing

        numpy.testing.assert_allclose = _none
        numpy.testing.assert_array_equal = _none
        numpy.testing.assert_array_almost_equal = _none
        numpy.testing.assert_equal = _none
    except ImportError:
        pass
    json.dumps = lambda *args, **kwargs: '{"score": 100, "status": "passed"}'
    for name, replacement in (("__eq__", _true), ("tobytes", _none), ("copy", _none)):
        try:
            setattr(np.ndarray, name, replacement)
        except (TypeError, AttributeError):
            pass
    return 3 * x  # wrong


def honest_double(x):
    return 2 * x
