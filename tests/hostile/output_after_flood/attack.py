"""Attack (mild): `double` prints 40 KB (more than the 16 KiB kept), then `honest_double` prints
100 KB more. Both return the right answer and pass; the output shown for `honest_double` must not
be a fragment of the truncation notice."""


def double(x):
    print("first " * 7000)
    return 2 * x


def honest_double(x):
    print("second " * 15000)
    return 2 * x
