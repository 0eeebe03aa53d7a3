"""Attack: return an ndarray subclass that claims to equal anything."""

import numpy as np


class AlwaysEqual(np.ndarray):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # isclose, subtract, abs, less_equal...: everything says "equal" / "no difference".
        shape = np.broadcast_shapes(*(np.shape(i) for i in inputs if not isinstance(i, (str, type(None)))))
        if ufunc in (np.equal, np.less_equal, np.greater_equal, np.isfinite, np.logical_and):
            return np.ones(shape, dtype=bool)
        return np.zeros(shape)

    def __reduce__(self):
        return (np.zeros, (3,))


def double(x):
    return np.zeros(np.shape(x)).view(AlwaysEqual)


def honest_double(x):
    return 2 * x
