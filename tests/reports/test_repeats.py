"""One root cause shown once: a later check of the same case keeps its own message but not the
inputs, steps and differing entries an earlier check already showed; other cases are untouched."""

from __future__ import annotations

from grader.reports.repeats import REPEATED, without_repeats
from grader.reports.text import problem_text
from grader.results import CaseResult, CheckResult, Comparison, Outcome, ProblemResult


def case(name: str, message: str, got: float, inputs: str = "x=[1, 2]") -> CaseResult:
    comparison = Comparison(path="dx", equal=False, reason="values", message=message,
                            first=(("(0,)", got, 1.0),))
    return CaseResult(case=name, public=True, outcome=Outcome.FAILED, message=message, inputs=inputs,
                      steps="dx = f(x)", expected="[1.0]", obtained=f"[{got}]", comparisons=(comparison,))


def check(name: str, *cases: CaseResult) -> CheckResult:
    return CheckResult(name=name, kind="value", weight=1, score=0, outcome=Outcome.FAILED, message="failed",
                       cases=cases)


def test_a_second_check_of_the_same_case_points_back() -> None:
    value = check("values", case("small", "dx: 1 of 1 differ", 3.0))
    gradient = check("gradient", case("small", "d/dx: 1 of 1 differ", 3.0), case("other", "d/dx differs", 5.0))
    first, second = without_repeats([value, gradient])
    assert first == [(value.cases[0], False)]
    (again, repeated), (other, fresh) = second
    assert repeated and not fresh and other == gradient.cases[1]
    assert again.message == "d/dx: 1 of 1 differ"
    assert (again.inputs, again.steps, again.expected, again.obtained) == ("", "", "", "")
    assert again.comparisons[0].first == ()
    text = problem_text(ProblemResult(problem="f", points=2, checks=(value, gradient)))
    assert text.count("x=[1, 2]") == 2 and REPEATED in text  # "small" once, "other" once


def test_different_entries_or_inputs_are_shown_again() -> None:
    value = check("values", case("small", "dx differs", 3.0))
    gradient = check("gradient", case("small", "d/dx differs", 4.0, inputs="x=[9]"))
    (_, [(again, repeated)]) = without_repeats([value, gradient])
    assert not repeated and again.inputs == "x=[9]" and again.comparisons[0].first == (("(0,)", 4.0, 1.0),)
