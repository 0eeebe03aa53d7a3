"""Attack: ignore every catchable signal, then loop. The grader's SIGTERM is not enough."""

import signal


def double(x):
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_IGN)
    while True:
        pass


def honest_double(x):
    return 2 * x
