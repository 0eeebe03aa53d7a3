"""Behavioural similarity: shared wrong answers on hidden cases, weighed by how rare they are."""

from __future__ import annotations

import pytest

from grader.grading.fingerprint import value_fingerprint
from grader.results import CheckResult, Diagnosis, GradeReport, Outcome, ProblemResult
from grader.similarity.behaviour import BLANK, STRENGTH, compare_behaviour
from grader.spec import load_spec

from conftest import ROOT

SPEC = load_spec(ROOT / "tests" / "data" / "similarity" / "similarity.yaml")
"""One problem, softmax: public case 'worked', hidden cases 'rows' and 'large'."""


def digest(name: str) -> str:
    """A value fingerprint per name (as grading makes them); names that are not values kept as they are."""
    if name == BLANK or name.startswith(("raised", "timeout", "failed")):
        return name
    return value_fingerprint(name)


def report(sid: str, wrong: dict[str, str], *, diagnosed: bool = False) -> GradeReport:
    problem = ProblemResult(
        problem="softmax", points=1.0,
        checks=(CheckResult(name="value", kind="value", weight=1.0, score=0.0 if wrong else 1.0,
                            outcome=Outcome.FAILED if wrong else Outcome.PASSED),),
        diagnoses=(Diagnosis(mistake="no_shift", message="..."),) if diagnosed else (),
        wrong_answers=tuple(sorted((case, digest(name)) for case, name in wrong.items())))
    return GradeReport(submission=sid, assignment="similarity", problems=(problem,))


def by_pair(reports: list[GradeReport], common: int = 10) -> dict[tuple[str, str], float]:
    return {(m.a, m.b): m.score for m in compare_behaviour(SPEC, reports, common=common)}


def test_a_rare_shared_wrong_answer_ranks_above_a_common_one() -> None:
    reports = [report("a1", {"rows": "r1", "large": "r2"}), report("a2", {"rows": "r1", "large": "r2"}),
               *(report(f"c{i}", {"rows": "c1", "large": "c2"}) for i in range(5)),
               *(report(f"ok{i}", {}) for i in range(5))]
    found = by_pair(reports)
    assert found[("a1", "a2")] == pytest.approx(STRENGTH)  # they alone, on every hidden case either got wrong
    assert found[("c0", "c1")] == pytest.approx(STRENGTH * 0.25)  # five gave it: each weighs 1/4
    assert found[("a1", "a2")] > found[("c0", "c1")] > 0
    assert not any("ok" in a or "ok" in b for a, b in found)  # right answers are no evidence
    assert ("a1", "c0") not in found  # different wrong answers neither


def test_a_wrong_answer_given_by_more_than_common_submissions_is_no_evidence() -> None:
    reports = [report(f"c{i}", {"rows": "c1"}) for i in range(4)]
    assert by_pair(reports, common=4)[("c0", "c1")] > 0
    assert by_pair(reports, common=3) == {}


def test_sharing_one_wrong_answer_among_several_is_weaker_than_sharing_all() -> None:
    reports = [report("a1", {"rows": "r1", "large": "x"}), report("a2", {"rows": "r1", "large": "y"}),
               report("b1", {"rows": "s1", "large": "s2"}), report("b2", {"rows": "s1", "large": "s2"})]
    found = by_pair(reports)
    assert found[("a1", "a2")] == pytest.approx(STRENGTH / 2) and found[("a1", "a2")] < found[("b1", "b2")]


def test_declared_mistakes_public_cases_and_blank_answers_are_never_evidence() -> None:
    reports = [report("d1", {"rows": "r1"}, diagnosed=True), report("d2", {"rows": "r1"}, diagnosed=True),
               report("p1", {"worked": "w1"}), report("p2", {"worked": "w1"}),
               report("s1", {"rows": BLANK}), report("s2", {"rows": BLANK})]
    assert by_pair(reports) == {}


def test_several_problems_of_evidence_add_up() -> None:
    spec = SPEC.model_copy(update={"problems": [SPEC.problems[0], SPEC.problems[0].model_copy(update={"id": "other"})]})
    one = report("a1", {"rows": "r1"})
    two = GradeReport(submission="a2", assignment="similarity", problems=(
        one.problems[0], ProblemResult(problem="other", points=1.0, wrong_answers=(("rows", digest("q")),))))
    three = GradeReport(submission="a3", assignment="similarity", problems=two.problems)
    found = {(m.a, m.b): m.score for m in compare_behaviour(spec, [one, two, three], common=10)}
    assert found[("a2", "a3")] > found[("a1", "a2")]


def test_only_returned_values_are_evidence() -> None:
    """Two students whose code raised the same exception, hit the same limit, or failed a check on a
    case without returning a value there, share nothing that points at shared code."""
    reports = [report("e1", {"rows": "raised TypeError"}), report("e2", {"rows": "raised TypeError"}),
               report("t1", {"large": "timeout"}), report("t2", {"large": "timeout"}),
               report("v1", {"rows": "v"}), report("v2", {"rows": "v"})]
    assert set(by_pair(reports)) == {("v1", "v2")}
