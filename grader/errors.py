"""Exceptions the grader raises for problems of the instructor's making.

A wrong student answer, a crash or a timeout is a *result*, never an exception; the classes here
mean a bad spec, a broken reference, unusable data or a bug in the grader. ``cli.py`` turns every
``GraderError`` into a message and an exit code.
"""

from __future__ import annotations


class GraderError(Exception):
    """Root of every error the grader reports to the instructor."""


class UsageError(GraderError):
    """The command line asked for something impossible (missing folder, unknown assignment)."""


class SpecError(GraderError):
    """A problem spec is invalid.

    Fix the field named in the message; ``file``, ``problem`` and ``field`` say where.
    """

    def __init__(self, message: str, *, file: str = "", problem: str = "", field: str = "") -> None:
        self.file = file
        self.problem = problem
        self.field = field
        where = ", ".join(
            part
            for part in (
                file,
                f"problem {problem!r}" if problem else "",
                f"field {field!r}" if field else "",
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)


class ReferenceImplementationError(GraderError):
    """The reference implementation could not be loaded or fails its own checks."""


class DataError(GraderError):
    """A data set is missing, corrupt (checksum mismatch) or cannot be downloaded."""
