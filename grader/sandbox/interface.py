"""What a session needs of a sandbox and of its workers, whichever kind runs them.

Two sandboxes implement it: ``server.Sandbox`` (a fork server and its isolated workers, Linux) and
``portable.PortableSandbox`` (a spawned Python per submission, for machines without ``os.fork``
or ``resource``). ``SandboxSession`` and the callers that report a run's isolation see only these
protocols and ``Reply``, so a run can use either without knowing which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from grader.spec import Limits


@dataclass(frozen=True, kw_only=True)
class Reply:
    """What came back for one request: the worker's message, or why there is none."""

    kind: Literal["message", "timeout", "died", "protocol"]
    header: dict[str, Any] = field(default_factory=dict)
    arrays: list[np.ndarray] = field(default_factory=list)
    detail: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.kind == "message"


class WorkerHandle(Protocol):
    """One running worker, as a session drives it."""

    alive: bool
    exit_detail: str

    @property
    def output(self) -> str:
        """Everything kept of what the worker printed, with a note if some was dropped."""

    def take_output(self) -> str:
        """What the worker printed since the last call."""

    def wait_ready(self, timeout: float) -> Reply:
        """Wait until the worker is ready for requests."""

    def request(self, header: dict[str, Any], blobs: list[bytes], timeout: float, *,
                wall_timeout: float | None = None) -> Reply:
        """One request under a CPU-time limit of ``timeout`` (wall-clock ``wall_timeout``)."""

    def close(self) -> None:
        """Stop the worker and everything it started that can be reached."""


class IsolationInfo(Protocol):
    """What isolation a sandbox gives; said in every run's output."""

    def describe(self) -> str:
        """One sentence for the run's notes."""


class SandboxBackend(Protocol):
    """Starts one worker per submission (and a new one after a worker had to be stopped)."""

    hide: list[str]
    """Folders the workers must not see; may be widened before the first worker starts."""

    def preload(self, *names: str) -> None:
        """Have workers started from now on import these (``"torch"``) before the student's code."""

    @property
    def info(self) -> IsolationInfo:
        """What isolation applies."""

    def spawn(self, submission: Path, limits: Limits) -> WorkerHandle:
        """Start a worker for one submission folder."""

    def probe(self) -> None:
        """Fail with the reason when no worker can start on this machine."""

    def close(self) -> None:
        """Stop everything the sandbox started."""

    def __enter__(self) -> "SandboxBackend":
        ...

    def __exit__(self, *exc: object) -> None:
        ...
