"""The pinned grading environment: the spec field, the versions note, and notes on removed NumPy APIs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grader.errors import SpecError
from grader.grading import environment
from grader.kit.bundle import install_text
from grader.kit.workflows import GITHUB_WORKFLOW, GITLAB_CI, render_workflows
from grader.results import CaseResult, CheckResult, GradeReport, Outcome, ProblemResult
from grader.spec import load_spec

from test_spec import VALID, with_change, write_spec

PINNED = {"numpy": "2.4.6", "torch": "2.13.0"}
GRADED_WITH = (("numpy", "2.4.6"), ("torch", "2.13.0+cpu"))


def pinned_spec(tmp_path: Path, pins: object = PINNED):
    return load_spec(write_spec(tmp_path, with_change("environment", pins)))


def report_failing_with(message: str, *, public: bool = True) -> GradeReport:
    case = CaseResult(case="a", public=public, outcome=Outcome.ERROR, message=message if public else "raised an exception on a hidden case")
    check = CheckResult(name="value #1", kind="value", weight=1, score=0, outcome=Outcome.ERROR, cases=(case,))
    return GradeReport(submission="s", assignment="a", problems=(ProblemResult(problem="affine", points=1,
                                                                                checks=(check,)),))


def error_of(expression: str) -> str:
    """The one-line message the worker sends for the error ``expression`` raises on this NumPy."""
    try:
        eval(expression, {"np": np})
    except Exception as error:  # noqa: BLE001
        return f"{type(error).__name__}: {error}".splitlines()[0]
    raise AssertionError(f"{expression} did not raise on NumPy {np.__version__}")


def test_a_bad_version_is_refused_naming_the_field(tmp_path: Path) -> None:
    assert pinned_spec(tmp_path).environment.numpy == "2.4.6"
    with pytest.raises(SpecError) as info:
        pinned_spec(tmp_path, {"numpy": "2.4", "torch": "2.13.0"})
    assert info.value.field == "environment.numpy"
    with pytest.raises(SpecError, match="unknown key"):
        pinned_spec(tmp_path, {"numpy": "2.4.6", "jax": "0.4.30"})


def test_the_note_states_the_versions_and_warns_when_they_differ(tmp_path: Path) -> None:
    assignment = pinned_spec(tmp_path)
    same = environment.environment_note(assignment, GRADED_WITH)
    assert "NumPy 2.4.6 and torch 2.13.0+cpu" in same and "the versions the course grades with" in same
    assert "Warning" not in same
    other = environment.environment_note(assignment, (("numpy", "2.3.1"), ("torch", "2.13.0")))
    assert "Warning: NumPy 2.3.1 is installed here, but the course grades with NumPy 2.4.6" in other
    assert "torch 2.13.0 is installed" not in other
    unpinned = load_spec(write_spec(tmp_path, VALID))
    assert environment.mismatches(unpinned, (("numpy", "1.0.0"),)) == []


@pytest.mark.skipif(np.__version__ != "2.4.6", reason="the messages of the NumPy the course pins")
@pytest.mark.parametrize(("expression", "words"), [
    ("np.reshape(np.zeros(4), newshape=(2, 2))", "no longer accepts the keyword `newshape` of `np.reshape`"),
    ("np.float", "no longer has `np.float` (use float)"),
    ("np.product([1])", "no longer has `np.product` (use np.prod)"),
    ("np.alltrue([1])", "no longer has `np.alltrue` (removed in NumPy 2.0; use np.all)"),
    ("np.in1d([1], [1])", "no longer has `np.in1d` (use np.isin)"),
    ("np.zeros(3).ptp()", "no longer has the array method `.ptp()`"),
])
def test_an_error_from_a_removed_api_gets_a_note_naming_the_version(tmp_path: Path, expression: str,
                                                                      words: str) -> None:
    notes = environment.removed_api_notes(report_failing_with(error_of(expression)), pinned_spec(tmp_path),
                                          GRADED_WITH)
    (note,) = notes
    assert note.startswith(f"NumPy 2.4.6, which this course grades with, {words}")
    assert note.endswith(": the error in affine.")


@pytest.mark.parametrize("message", [
    "AttributeError: module 'numpy' has no attribute 'sofmax'",             # a typo, not a removal
    "TypeError: affine() got an unexpected keyword argument 'newshape'",   # the student's own function
    "ValueError: cannot reshape array of size 4 into shape (3,)",
    "x" * 100_000 + "module 'numpy' has no attribute 'float'",             # past what is scanned
])
def test_other_errors_get_no_note(tmp_path: Path, message: str) -> None:
    assert environment.removed_api_notes(report_failing_with(message), pinned_spec(tmp_path), GRADED_WITH) == []


def test_a_hidden_case_gives_no_note(tmp_path: Path) -> None:
    report = report_failing_with("AttributeError: module 'numpy' has no attribute 'float'", public=False)
    assert environment.removed_api_notes(report, pinned_spec(tmp_path), GRADED_WITH) == []


def test_kit_and_ci_install_exactly_the_pinned_versions(tmp_path: Path) -> None:
    assignment = pinned_spec(tmp_path, {"numpy": "2.4.6", "torch": "2.11.0"})
    readme = install_text(assignment)
    assert "pip install torch==2.11.0 --index-url https://download.pytorch.org/whl/cpu" in readme
    assert "pip install numpy==2.4.6 dl-grader" in readme and "NumPy 2.4.6 and torch 2.11.0" in readme
    files = render_workflows("a", pins=environment.pinned(assignment), systems=("macos-latest",))
    for path in (GITHUB_WORKFLOW, GITLAB_CI):
        assert "torch==2.11.0 --index-url" in files[path] and "pip install numpy==2.4.6 dl-grader" in files[path]
        assert "2.13.0" not in files[path]
    assert "pip install torch==2.13.0" in install_text(load_spec(write_spec(tmp_path, VALID)))


def test_junit_properties_state_the_versions() -> None:
    from grader.reports.junit import junit_tree

    report = GradeReport(submission="s", assignment="a", problems=(), environment=GRADED_WITH)
    properties = {p.get("name"): p.get("value") for p in junit_tree(report).iter("property")}
    assert properties["numpy"] == "2.4.6" and properties["torch"] == "2.13.0+cpu"
