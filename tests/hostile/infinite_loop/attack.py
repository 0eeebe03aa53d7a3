"""Attack: `double` never returns (a busy loop). Must hit the call time limit."""


def double(x):
    while True:
        pass


def honest_double(x):
    return 2 * x
