"""A student's self-check: one submission, public cases only, from the spec or a student kit.

The sandbox is the fork server where it can run, else the portable worker (``sandbox.choice``):
a self-check runs the student's own code on the student's own machine, whatever its system. The
report's notes say which applied.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grader.batch.executor import hidden_paths
from grader.batch.submissions import Submission, sources
from grader.grading.expectations import KitExpectations, ReferenceExpectations
from grader.grading.environment import with_environment
from grader.grading.preflight import verify_reference
from grader.grading.runner import grade_submission
from grader.results import GradeReport
from grader.sandbox.choice import IsolationChoice, open_sandbox
from grader.sandbox.interface import SandboxBackend
from grader.sandbox.preload import modules_to_preload
from grader.sandbox.session import SandboxSession
from grader.spec import Assignment, load_spec

KIT_SPEC = "spec.yaml"
STUDENT_KIT_DIR = "tests-grader"
"""Where students keep the kit in their repository (its README says so, and ``grader init-ci``
copies it there): at the top, named so that a plain ``pytest`` loads its conftest.py."""


def is_kit(path: Path) -> bool:
    return path.is_dir() and (path / KIT_SPEC).is_file() and (path / "expected.json").is_file()


def load_target(target: str | Path, *, data_dir: Path | None = None) -> tuple[Assignment, Any]:
    """The assignment and its expectations, from a kit folder or from a spec with its reference."""
    path = Path(target)
    if is_kit(path):
        return load_spec(path / KIT_SPEC, check_files=False), KitExpectations(path, data_dir=data_dir)
    assignment = load_spec(str(target))
    expectations = ReferenceExpectations(assignment, data_dir=data_dir)
    verify_reference(expectations)  # the instructor's own check: a broken spec is theirs to fix first
    return assignment, expectations


def check_submission(
    target: str | Path,
    submission: Path,
    *,
    isolation: IsolationChoice = "auto",
    data_dir: Path | None = None,
    mode: str = "check",
) -> GradeReport:
    """Grade one submission folder on the public cases, sandboxed like the instructor's run
    where this machine allows it, else in the portable worker."""
    # The fork server boots while the spec is read; it learns what to hide and preload before
    # its first worker.
    with open_sandbox(isolation, hide=[], purpose="check") as sandbox:
        assignment, expectations = load_target(target, data_dir=data_dir)
        sandbox.hide = [str(path) for path in hidden_paths(assignment, data_dir)]
        sandbox.preload(*modules_to_preload(assignment, [sources(Submission(submission.name, submission))]))
        return check_in(sandbox, assignment, submission, expectations=expectations, mode=mode)


def check_in(sandbox: SandboxBackend, assignment: Assignment, submission: Path, *, expectations: Any,
             mode: str = "check") -> GradeReport:
    """Grade one submission in a sandbox that is already running (several checks can share one)."""
    return with_environment(grade_submission(
        assignment, submission.resolve(), expectations=expectations, mode=mode,
        session_factory=lambda path, deadline: SandboxSession(sandbox, path, deadline=deadline),
        notes=(sandbox.info.describe(),),
    ), assignment)
