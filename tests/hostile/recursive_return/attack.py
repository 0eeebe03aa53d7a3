"""Attack (or a plain bug): return a list that contains itself. It cannot be sent back; the
student must be told so (a bad return value), and the worker must not be reported as a sandbox
set-up failure."""


def double(x):
    value = [2 * x]
    value.append(value)
    return value


def honest_double(x):
    return 2 * x
