"""Attack (or a plain bug): unbounded recursion. A RecursionError is an ordinary error, not a crash."""


def double(x):
    return double(x) + 1


def honest_double(x):
    return 2 * x
