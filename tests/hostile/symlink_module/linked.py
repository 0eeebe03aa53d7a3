"""Attack: attack.py is a symbolic link to this file (committed as a link, as a git checkout
would give it; the test makes it again after copying). The module is correct, but a link is
refused by name, so `double` and `honest_double` score 0 with "attack.py is a symbolic link"."""


def double(x):
    return 2 * x


def honest_double(x):
    return 2 * x
