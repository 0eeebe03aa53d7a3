"""What the grader asks a worker to do (``Call``) and what it got back (``CallOutcome``).

Checks plan calls and judge outcomes; a ``Session`` (``sandbox.session``) turns one into the
other. A ``CallOutcome`` is always a value, whatever happened: a returned value, an exception, a
missing function, a timeout or a dead worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from grader.spec import Limits

CallStatus = Literal[
    "ok",            # the function returned; ``value`` holds it
    "error",         # it raised (or called sys.exit)
    "not_defined",   # the module has no such function
    "missing_module",  # the module (or the weights file) is not in the submission
    "import_error",  # the module failed to import
    "bad_return",    # it returned something that may not cross (object, subclass, too large)
    "bad_weights",   # a model's state dict was refused or did not fit
    "timeout",       # a time limit was hit; the worker was killed
    "died",          # the worker died (os._exit, signal, memory, CPU limit)
    "protocol",      # the worker sent something malformed
    "skipped",       # not run, because an earlier call of the problem hit a limit
]

WALL_CLOCK_FACTOR = 3.0
WALL_CLOCK_EXTRA = 10.0
"""A time limit counts the worker's CPU time; wall-clock time is only a safety net against a
worker that waits instead of computing (a sleep, a blocked read), ``FACTOR * limit + EXTRA``
seconds, so that a busy machine never turns a correct answer into a timeout."""


def wall_clock_net(seconds: float) -> float:
    """The wall-clock safety net of a CPU-time limit of ``seconds``."""
    return WALL_CLOCK_FACTOR * seconds + WALL_CLOCK_EXTRA


LIMIT_STATUSES = frozenset({"timeout", "died", "protocol"})
"""Outcomes after which the worker is gone and the problem's remaining calls are not run."""


@dataclass(frozen=True)
class Call:
    """One request: call ``module.function(*args)``, run a scenario plan (``options["plan"]``, its
    arguments by name in ``args[0]``), or a model operation (``op``)."""

    key: str
    module: str
    function: str
    args: tuple[Any, ...] = ()
    op: Literal["call", "scenario", "evaluate_model", "train_model"] = "call"
    options: dict[str, Any] = field(default_factory=dict, compare=False)
    arrays: tuple[np.ndarray, ...] = field(default=(), compare=False)
    """Raw array payload of model operations (images), sent as .npy blobs."""
    timeout: float | None = None
    """Overrides the problem's call timeout (model evaluation has its own budget)."""
    hidden: bool = False
    """Runs on a hidden case: nothing the code says during it (printed output, messages) is shown,
    and no later public call runs in a worker that has seen its inputs (``sandbox.session``)."""


@dataclass(frozen=True, kw_only=True)
class CallOutcome:
    """What happened to one call; judged by the checks in the trusted process."""

    key: str
    status: CallStatus
    value: Any = None
    message: str = ""
    traceback: str = ""
    exception: str = ""
    """The class name of the exception a call raised (status "error"), for cases that expect one."""
    warnings: tuple[str, ...] = ()
    modified_args: tuple[int, ...] = ()
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class Session(Protocol):
    """Runs calls for one submission."""

    def run(self, calls: list[Call], limits: Limits) -> tuple[dict[str, CallOutcome], str]:
        """Outcomes by call key, and what the student's code printed meanwhile."""

    def notes(self) -> tuple[str, ...]:
        """What the report should say about the submission as a whole: a notebook's failed cells
        and the lines it does not run, what the modules printed while imported."""

    def close(self) -> None: ...
