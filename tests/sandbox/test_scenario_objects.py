"""Student objects that misbehave inside a scenario cost only their own problem, with a clear
message: ``__getattr__`` that raises or hangs, properties and returns that are not data, classes
that lie about their type, endless iterators, finalisers that raise, hang or kill the worker.

One sandboxed run of ``tests/hostile/_scenario_objects`` against ``tests/data/scenario/objects.yaml``.
"""

from __future__ import annotations


import pytest

from grader.kit.selfcheck import check_submission
from grader.results import GradeReport

from conftest import ROOT

SPEC = ROOT / "tests" / "data" / "scenario" / "objects.yaml"
SUBMISSION = ROOT / "tests" / "hostile" / "_scenario_objects"


@pytest.fixture(scope="module")
def report() -> GradeReport:
    return check_submission(SPEC, SUBMISSION, mode="grade")


def problem(report: GradeReport, name: str):  # noqa: ANN201 - a ProblemResult
    return next(p for p in report.problems if p.problem == name)


@pytest.mark.parametrize("name", ["Control", "AfterHang", "DelRaises", "AfterDelHang", "AfterDelExit"])
def test_well_behaved_answers_keep_their_marks(report: GradeReport, name: str) -> None:
    assert problem(report, name).passed, problem(report, name).failure


@pytest.mark.parametrize(("name", "words"), [
    ("GetattrHangs", "stopped"),
    ("EndlessIter", "returned more than 2 values"),
    ("DelHangs", "stopped"),
    ("CycleDelExits", "crashed"),
])
def test_a_misbehaving_object_costs_its_problem_with_a_clear_message(report: GradeReport, name: str, words: str) -> None:
    result = problem(report, name)
    assert result.score == 0
    assert words in result.failure, result.failure


@pytest.mark.parametrize(("name", "words"), [
    ("GetattrRaises", "obj.W: reading it raised RuntimeError: no W for you"),
    ("PropertyObject", "obj.W: could not be sent: returned a value of type builtins.function"),
    ("MetaclassEq", "b: could not be sent: RuntimeError: metaclass __eq__ exploded"),
    ("FakeClass", "b: could not be sent: returned an ndarray subclass"),
])
def test_a_read_that_raises_or_cannot_be_sent_costs_only_its_part(report: GradeReport, name: str, words: str) -> None:
    """One read (``obj.W`` or ``b``) raises or is not data: that part is wrong, the other two keep
    their credit."""
    result = problem(report, name)
    assert result.score == pytest.approx(2 / 3)
    assert words in result.failure, result.failure
