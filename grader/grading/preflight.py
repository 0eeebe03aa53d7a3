"""Before any student is graded: the spec's scenarios name only what exists, and the reference
succeeds on every case.

A case the reference cannot run (random indices past an embedding table) or a scenario step
naming something that does not exist (``cach`` for ``cache``) is the instructor's mistake, but
graded as it is, it costs every student the points of that case, and a correct student is told
that *their* code raised. So every command that grades or hands out a spec (``grade``,
``autograde``, ``gradescope``, ``bundle``, an instructor's ``check``) verifies it first and stops
with status 2, naming the file, the problem, the case and the step. ``grader lint`` reports the
same finding per problem and skips what would only cascade from it (mistakes, degenerate answers).

What is computed here is what grading computes anyway (the reference's outputs and gradients,
cached in the expectations), only earlier.
"""

from __future__ import annotations

import inspect

from grader import interpreter
from grader.errors import ReferenceImplementationError, SpecError
from grader.grading.expectations import ReferenceExpectations, ReferenceRaised
from grader.scenarios import BUILTINS, Scenario
from grader.grading.checks.custom import find_judge
from grader.grading.checks.registry import raised
from grader.spec import AccuracyCheck, Assignment, CustomCheck, GradientCheck, Problem


def verify_reference(expectations: ReferenceExpectations) -> None:
    """Raise a ``SpecError`` for the first problem whose scenario or cases the reference cannot run."""
    for problem in expectations.assignment.problems:
        verify_problem(expectations, problem)


def verify_problem(expectations: ReferenceExpectations, problem: Problem) -> None:
    """Every name the problem's scenario (and gradient expressions) leaves to the module is one of
    the reference's, and the reference returns on every case, gradients included.

    Raises:
        SpecError: naming the file, the problem, and the field (the case or the check) at fault.
    """
    assignment = expectations.assignment
    reference = expectations.reference_module
    if reference is None or any(isinstance(check, AccuracyCheck) for check in problem.checks):
        return  # a model problem's reference is its trained model, checked by lint against its target
    _verify_names(assignment, problem, problem.steps, "scenario", reference)
    for index, check in enumerate(problem.checks):
        if isinstance(check, GradientCheck) and check.of is not None:
            _verify_names(assignment, problem, problem.gradient_of(check), f"checks.{index}.of", reference)
    for index, check in enumerate(problem.checks):
        if isinstance(check, CustomCheck):
            try:
                find_judge(assignment, check.judge)
            except SpecError as error:
                raise SpecError(str(error).split(": ", 1)[-1], file=str(assignment.source), problem=problem.id,
                                field=f"checks.{index}.judge") from None
    _verify_mistake_signatures(expectations, problem, reference)
    for index, case in enumerate(problem.cases):
        try:
            expectations.expected(problem, case)
        except ReferenceRaised as error:
            if case.raises and raised(_exception_name(error), case.raises):
                continue
            raise _case_error(assignment, problem, f"cases.{index}", error) from None
        if case.raises:
            raise SpecError(f"case {case.name!r} expects {case.raises} to be raised, but the reference returns",
                            file=str(assignment.source), problem=problem.id, field=f"cases.{index}.raises")
    for index, check in enumerate(problem.checks):
        if isinstance(check, GradientCheck):
            for case in problem.check_cases(check):
                try:
                    expectations.gradient(problem, index, case)
                except ReferenceRaised as error:
                    fix = "the case's arguments, the check's `of` and `wrt`, or the reference"
                    raise _case_error(assignment, problem, f"checks.{index}", error, fix=fix) from None


def _verify_mistake_signatures(expectations: ReferenceExpectations, problem: Problem, reference: object) -> None:
    """Each declared mistake takes the parameters of the function it is swapped in for (the
    problem's own, or its ``replaces``): a forward's variant swapped in for a backward would only
    raise, and a student whose code raises would be told they made it."""
    for index, mistake in enumerate(problem.mistakes):
        name = problem.replaced_by(mistake)
        graded = getattr(reference, name, None)
        if not inspect.isfunction(graded):
            continue
        expected = list(inspect.signature(graded).parameters)
        try:
            variant = expectations.mistake_function(problem, mistake)
        except ReferenceImplementationError:
            continue  # lint names a missing variant; grading never needs it to exist
        if not inspect.isfunction(variant):
            continue
        takes = list(inspect.signature(variant).parameters)
        if takes != expected:
            raise SpecError(
                f"mistake {mistake.id!r} ({variant.__name__}) takes ({', '.join(takes)}), but "
                f"{name} takes ({', '.join(expected)}): a mistake replaces the problem's own function, or "
                "the one its `replaces:` names (a forward's mistake on a problem graded on its backward: "
                "`replaces: <the forward>`)",
                file=str(expectations.assignment.source), problem=problem.id, field=f"mistakes.{index}")


def _verify_names(assignment: Assignment, problem: Problem, scenario: Scenario | None, field: str,
                  reference: object) -> None:
    if scenario is None:
        return
    helper_names = scenario.helper_names()
    if helper_names:
        code = assignment.helpers_code()
        helpers = interpreter.helpers_module(code) if code else None
        for name, where in helper_names.items():
            if helpers is None or not hasattr(helpers, name):
                raise SpecError(
                    f"{where}: `helpers.{name}` is not defined: " + (
                        f"{assignment.helpers} has no `{name}`" if helpers is not None
                        else "the spec names no `helpers` module"),
                    file=str(assignment.source), problem=problem.id, field=field)
    for name, where in scenario.global_names().items():
        if not callable(getattr(reference, name, None)):
            raise SpecError(
                f"{where}: `{name}` is not defined: not an argument of the cases, a name an earlier "
                f"step assigned, a builtin ({', '.join(sorted(BUILTINS))}) or a function or class of the "
                f"reference ({assignment.reference})",
                file=str(assignment.source), problem=problem.id, field=field)


def _exception_name(error: ReferenceRaised) -> str:
    """The class name of what the reference raised (a scenario step's, under its StepFailed)."""
    cause = error.__cause__
    if isinstance(cause, interpreter.StepFailed) and cause.__cause__ is not None:
        cause = cause.__cause__
    return type(cause).__name__ if cause is not None else ""


def _case_error(assignment: Assignment, problem: Problem, field: str, error: ReferenceRaised,
                fix: str = "the case's arguments (or the reference)") -> SpecError:
    return SpecError(
        f"the reference cannot run case {error.case!r}: {error.reason}. No student could pass it: fix {fix} "
        "before grading", file=str(assignment.source), problem=problem.id, field=field)
