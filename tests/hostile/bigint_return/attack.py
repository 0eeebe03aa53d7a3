"""Attack (or a plain bug): return an int too large to write as text (Python refuses to convert
ints of more than 4300 digits). Must be a bad return value, not a sandbox set-up failure."""


def double(x):
    return 10 ** 5000


def honest_double(x):
    return 2 * x
