"""A correct solution in a second module: it must get full marks whatever attack.py does."""


def double(x):
    return 2 * x
