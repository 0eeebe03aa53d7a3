"""pytest plugin: a student kit's public checks as pytest tests, one per problem.

A kit's ``conftest.py`` loads this plugin (``pytest_plugins = ["grader.pytest_plugin"]``, which
re-exports the hooks defined here). pytest then collects the kit's ``spec.yaml`` as a file of
tests, one ``ProblemItem`` per problem, named by the problem id
(``tests-grader/spec.yaml::softmax``). The first item to run checks the whole
submission once, sandboxed exactly like ``grader check``; the report is cached for the session and
every item reads its problem from it. A problem that loses points fails with the grader's plain-text
feedback (``grader.reports.text.problem_text``) as its failure message; one with no check on public
cases is skipped.

The submission checked is ``--grader-submission`` when given, else the folder pytest was started
from; started from inside the kit itself, the kit's parent folder.

pytest loads ``pytest_plugins`` only from conftest files it reads before collecting: the kit folder
named on the command line (``pytest path/to/kit``), or a top-level folder whose name starts with
``test`` when ``pytest`` runs without arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from grader.kit.selfcheck import KIT_SPEC, is_kit
from grader.reports.text import problem_text
from grader.results import GradeReport, ProblemResult

_REPORTS = pytest.StashKey[dict[tuple[Path, Path], "GradeReport | BaseException"]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grader", "grader: a student kit's public checks")
    group.addoption("--grader-submission", default=None, metavar="PATH",
                    help="submission folder to check (default: the folder pytest runs in)")
    group.addoption("--grader-isolation", default="auto", choices=["auto", "full", "none", "portable"],
                    help="sandbox isolation, as grader check --isolation (default: auto)")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_REPORTS] = {}


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name == KIT_SPEC and is_kit(file_path.parent):
        return KitFile.from_parent(parent, path=file_path)
    return None


def submission_folder(config: pytest.Config, kit: Path) -> Path:
    """The folder checked: the option, else where pytest was started (the kit's parent if that is the kit)."""
    option = config.getoption("grader_submission", default=None)
    if option:
        return Path(option).resolve()
    folder = config.invocation_params.dir.resolve()
    return folder.parent if folder == kit.resolve() else folder


class ProblemFailed(Exception):
    """A problem of the submission lost points on the public checks."""

    def __init__(self, result: ProblemResult) -> None:
        super().__init__(result.failure)
        self.result = result


class KitFile(pytest.File):
    """A kit's spec.yaml: one test per problem, all answered by a single check of the submission."""

    def collect(self) -> Iterator[pytest.Item]:
        from grader.spec import load_spec

        assignment = load_spec(self.path, check_files=False)
        for problem in assignment.problems:
            yield ProblemItem.from_parent(self, name=problem.id, assignment=assignment.assignment)

    def report(self) -> GradeReport:
        """The submission's report, computed once per session and kit."""
        kit = self.path.parent
        submission = submission_folder(self.config, kit)
        reports = self.config.stash[_REPORTS]
        key = (kit.resolve(), submission)
        if key not in reports:
            try:
                reports[key] = self._check(kit, submission)
            except Exception as error:  # noqa: BLE001 - every item reports it
                reports[key] = error
        outcome = reports[key]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _check(self, kit: Path, submission: Path) -> GradeReport:
        from grader.errors import UsageError
        from grader.kit.selfcheck import check_submission

        if not submission.is_dir():
            raise UsageError(f"{submission} is not a folder (--grader-submission)")
        isolation = self.config.getoption("grader_isolation", default="auto")
        return check_submission(kit, submission, isolation=isolation)


class ProblemItem(pytest.Item):
    """One problem of the assignment; passes when it earns every point of its public checks."""

    def __init__(self, *, assignment: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.assignment = assignment

    def runtest(self) -> None:
        assert isinstance(self.parent, KitFile)
        report = self.parent.report()
        result = next((problem for problem in report.problems if problem.problem == self.name), None)
        if result is None:
            pytest.skip(f"{self.name} is not in the report")
        if result.max_score == 0:
            pytest.skip("no check runs on public cases; graded by the instructor only")
        if not result.passed:
            raise ProblemFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ProblemFailed):
            return problem_text(excinfo.value.result)
        from grader.errors import GraderError

        if isinstance(excinfo.value, GraderError):
            return f"grader: {excinfo.value}"
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.assignment}::{self.name}"
