"""``kind: custom``: the instructor's own judge, for what the built-in kinds do not say.

As otter-grader's and nbgrader's tests let an author assert anything, a custom check calls a
function the instructor wrote: ``judge(value, expected, args, **options)``, with the student's
output, the reference's and the case's arguments, in the grader's process. Everything it sees is
plain data decoded from the worker's reply (arrays, numbers, strings, tuples, lists, dicts), never
a student object, so the judge runs no student code. It answers True (the case passes) or False,
or ``(passed, message)`` with the message a student sees on a failing public case (on a hidden
case they see a fixed phrase).

The judge is found in the spec's ``checks_module`` (a file beside the spec, shipped in the student
kit, so public custom checks run there too) or, failing that, among the installed entry points of
group ``dl_grader.checks`` (a course's own package of judges). An unknown judge is a spec error,
raised before any student is graded (``grader.grading.preflight``).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Callable

from grader import reference
from grader.calls import CallOutcome
from grader.cases import case_args
from grader.compare import summarize
from grader.errors import SpecError
from grader.grading.checks.registry import Context, case_result, inputs_text, judge_cases, plan_base_calls, register
from grader.results import CaseResult, CheckResult, Outcome
from grader.spec import Assignment, Case, CustomCheck
from grader.values import first_unread

ENTRY_POINT_GROUP = "dl_grader.checks"

Judge = Callable[..., Any]


def find_judge(assignment: Assignment, name: str) -> Judge:
    """The judge ``name``: a function of the spec's checks module, or an installed entry point.

    Raises:
        SpecError: no such judge.
    """
    if assignment.checks_path is not None and assignment.checks_path.is_file():
        function = getattr(reference.load_module(assignment.checks_path), name, None)
        if callable(function):
            return function
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name == name:
            return point.load()  # type: ignore[no-any-return]
    where = f"{assignment.checks_module} or " if assignment.checks_module else ""
    raise SpecError(f"judge {name!r} is neither a function of {where}an installed {ENTRY_POINT_GROUP!r} entry point",
                    file=str(assignment.source))


def _verdict(answer: Any) -> tuple[bool, str]:
    """A judge's answer as (passed, message); anything but True (numpy's True too) fails."""
    message = ""
    if isinstance(answer, tuple) and len(answer) == 2:
        answer, message = answer
    return answer is True or (type(answer).__name__ == "bool_" and bool(answer)), str(message)


@register("custom", plan=plan_base_calls)
def check_custom(ctx: Context, check: CustomCheck) -> CheckResult:
    """The instructor's judge passes the student's output on every case."""
    judge = find_judge(ctx.assignment, check.judge)

    def decide(case: Case, outcome: CallOutcome) -> CaseResult:
        expected = ctx.expectations.expected(ctx.problem, case)
        arguments = dict(zip(case.args, case_args(case)))
        unread = first_unread(outcome.value)
        if unread is not None:
            # A judge is promised plain values: an answer with a part that could not be read is
            # not judged, and fails with why.
            passed, message = False, f"a part of the answer: {unread.message}"
        else:
            try:
                passed, message = _verdict(judge(outcome.value, expected, arguments, **check.options))
            except Exception as error:  # noqa: BLE001 - a judge meeting an answer it did not foresee
                passed, message = False, f"the check could not judge this answer ({type(error).__name__})"
        if passed:
            return case_result(ctx, case, Outcome.PASSED, "")
        return case_result(ctx, case, Outcome.FAILED, message or f"{check.judge} rejected the answer",
                           hidden_message="wrong answer on a hidden case",
                           inputs=inputs_text(ctx, case), expected=summarize(expected),
                           obtained=summarize(outcome.value))

    return judge_cases(ctx, decide)
