"""Attack: print ~50 MB, then return the right answer. Must pass; the output is truncated."""


def double(x):
    line = "flood! " * 150_000  # ~1 MB per line
    for _ in range(50):
        print(line)
    return 2 * x


def honest_double(x):
    return 2 * x
