"""Grading: from a spec and a session's outcomes to scored results.

``checks/`` holds the check kinds (numeric, gradient, accuracy) in one registry; ``expectations``
computes what the reference returns; ``diagnosis`` names the declared mistake a wrong answer
matches; ``runner`` grades one submission problem by problem; ``selftest`` is the spec self-test
behind ``grader lint``. Student code is reached only through a ``calls.Session`` the caller passes.
"""
