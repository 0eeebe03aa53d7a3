"""The executor interface: what ``grade_folder`` hands an executor, and what every executor shares.

An executor grades a run's pending submissions and calls ``record`` with each report as it is
done; ``grade_folder`` (``run``) writes, renders and counts them. Two implement ``Executor``:
``local.grade_locally`` (threads on this machine) and ``dask.grade_on_dask`` (one Dask task per
submission). Neither imports ``run``; both grade a submission with ``grade_in_sandbox`` in a sandbox
that hides ``hidden_paths``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Protocol

from grader.batch.submissions import Submission
from grader.grading.environment import with_environment
from grader.grading.runner import grade_submission
from grader.results import GradeReport
from grader.sandbox.interface import SandboxBackend
from grader.sandbox.server import Isolation
from grader.sandbox.session import SandboxSession
from grader.spec import Assignment

ExecutorName = Literal["local", "dask"]


@dataclass(frozen=True)
class GradingRun:
    """The settings of one ``grader grade`` run."""

    assignment: Assignment
    out: Path
    workers: int = 1
    isolation: Isolation = "auto"
    force: bool = False
    data_dir: Path | None = None
    progress: bool | None = None
    """Show the progress (a live display in a terminal, plain lines elsewhere); False: silent."""
    html: bool = True
    """Write each submission's feedback.html and the class summary index.html."""
    executor: ExecutorName = "local"
    """``local``: threads on this machine; ``dask``: one Dask task per submission."""
    scheduler: str | None = None
    """Address of the Dask scheduler (``tcp://host:8786``); none starts a local Dask cluster."""


@dataclass(frozen=True)
class Pending:
    """A submission to grade, and the cache key its results will be written under."""

    submission: Submission
    key: str


Record = Callable[[Pending, GradeReport], None]
"""Called with each freshly graded submission's report, from whichever thread finished it."""



class Executor(Protocol):
    """Grades the pending submissions of a run; one implementation per ``--executor``."""

    def __call__(self, run: GradingRun, submissions: Path, pending: list[Pending], record: Record) -> dict[str, str]:
        """Grade ``pending`` (from the folder ``submissions``) and ``record`` each report.

        Returns the submissions that could not be graded for a reason of the machines (id -> reason).
        """


def hidden_paths(assignment: Assignment, *extra: Path | None) -> list[Path]:
    """Folders a worker must never see: the instructor's files, the grader, data, outputs."""
    from grader import datasets

    paths = [assignment.source.parent, Path(__file__).resolve().parents[1], datasets.default_cache_dir()]
    # The whole course repository the spec lives in: its .git holds every hidden file's history.
    for folder in assignment.source.resolve().parents:
        if (folder / ".git").exists():
            paths.append(folder)
            break
    for path in (assignment.reference_path, assignment.mistakes_path, *extra):
        if path is not None:
            paths.append(path.parent if path.is_file() else path)
    return sorted({path.resolve() for path in paths})


def grade_in_sandbox(
    assignment: Assignment, folder: Path, submission_id: str, *, expectations: Any, sandbox: SandboxBackend
) -> GradeReport:
    """Grade one unpacked submission in ``sandbox``: what a grading thread or a Dask task does."""
    return with_environment(grade_submission(
        assignment, folder, expectations=expectations, submission_id=submission_id,
        session_factory=lambda path, deadline: SandboxSession(sandbox, path, deadline=deadline),
        notes=(sandbox.info.describe(),),
    ), assignment)
