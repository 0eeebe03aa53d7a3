"""Attack: close every inherited file descriptor above 2 (the grader's channel among them), then
return the right answer, which can no longer be sent. The worker dies; that is the student's doing,
not a failure of the sandbox's set-up."""

import os


def double(x):
    os.closerange(3, 1024)
    return 2 * x


def honest_double(x):
    return 2 * x
