"""Name the mistake: match a wrong answer against the problem's declared known mistakes.

A declared mistake is a wrong variant of the reference (sign flipped, factor dropped, wrong axis,
...). When a student's answers fail the value checks and equal a mistake's outputs on every case
the run used, the feedback names that mistake in plain words. A correct submission is never
diagnosed: diagnosis only runs when a value check failed.
"""

from __future__ import annotations

from typing import Any, Mapping

from grader.calls import CallOutcome
from grader.compare import compare
from grader.grading.checks import Context
from grader.grading.expectations import MistakeRaised, Unavailable
from grader.results import CheckResult, Diagnosis, Outcome
from grader.spec import ValueCheck


def _matches(outcome: CallOutcome, mistaken: Any, check: ValueCheck, single_element_scalars: bool) -> bool:
    if isinstance(mistaken, MistakeRaised):
        return outcome.status == "error"
    if not outcome.ok:
        return False
    return all(c.equal for c in compare(outcome.value, mistaken, rtol=check.rtol, atol=check.atol, nan="equal",
                                        detail=False, single_element_scalars=single_element_scalars))


def diagnose(contexts: list[Context], results: list[CheckResult], outcomes: Mapping[str, CallOutcome]) -> tuple[Diagnosis, ...]:
    """The declared mistakes that explain every value the student returned."""
    value_runs = [
        (ctx, result) for ctx, result in zip(contexts, results) if isinstance(ctx.check, ValueCheck) and result.counted
    ]
    if not value_runs or all(result.outcome is Outcome.PASSED for _, result in value_runs):
        return ()
    problem = contexts[0].problem
    expectations = contexts[0].expectations
    found = []
    for mistake in problem.mistakes:
        try:
            if all(
                _matches(outcomes[ctx.base_key(case)], expectations.mistake_output(problem, mistake, case), ctx.check,
                         ctx.assignment.single_element_scalars)
                for ctx, _ in value_runs
                for case in ctx.cases()
            ):
                found.append(Diagnosis(mistake=mistake.id, message=expectations.mistake_message(problem, mistake)))
        except Unavailable:
            continue
    return tuple(found)

