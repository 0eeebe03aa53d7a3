"""Not an attack: a correct submission. Must get full marks in every isolation mode."""


def double(x):
    return 2 * x


def honest_double(x):
    return 2 * x
