"""Name the mistake: match a wrong answer against the problem's declared known mistakes, by behaviour.

A declared mistake is a wrong variant of the reference (sign flipped, factor dropped, wrong axis,
no max shift...). A real student's version of it is rarely the instructor's formula: it may return
inf where the variant returns NaN, or a (1, D) array where the variant returns (D,). So a mistake
is named when the student's answers *behave* like the variant's on every case the value checks ran:

- the same parts are wrong on the same cases (a part is a read, a returned element, a dict entry;
  wrong as the value checks judge it, against the reference);
- where they are wrong, they are wrong the same way: both have a NaN or inf where the reference is
  finite (NaN and inf alike), or neither; and where both are finite, the student's values are near
  the variant's within a loose tolerance (``LOOSE_RTOL``, ``LOOSE_ATOL``), once dimensions of size 1
  are dropped;
- where the variant raises, the student's code raises too.

A right answer is never diagnosed: diagnosis runs only when a value check failed, and a mistake
whose wrong parts differ from the student's is not named.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from grader.calls import CallOutcome
from grader.compare import as_array, describe_type
from grader.grading.checks import Context
from grader.grading.checks.gradient import own_gradient
from grader.grading.checks.numeric import value_comparisons
from grader.grading.expectations import MistakeRaised, Unavailable
from grader.results import CheckResult, Diagnosis, Outcome
from grader.spec import Case, GradientCheck, ValueCheck

LOOSE_RTOL = 0.05
"""How near a student's wrong value must be to the variant's, relatively (a different formula for
the same mistake differs in rounding, an epsilon, the order of a sum)."""
LOOSE_ATOL = 1e-3
"""The same, absolutely, as a share of the largest finite magnitude of the reference's part."""


def _scale(reference: np.ndarray) -> float:
    """The largest finite magnitude of a reference part (1 when it has none)."""
    finite = np.abs(reference[np.isfinite(reference)])
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def _alike(student: Any, mistaken: Any, reference: Any) -> bool:
    """Do two wrong answers go wrong the same way (see the module's docstring), leaf by leaf."""
    if isinstance(reference, (tuple, dict)) or (isinstance(reference, list) and as_array(reference) is None):
        if isinstance(reference, dict):
            if not (isinstance(student, dict) and isinstance(mistaken, dict)):
                return describe_type(student) == describe_type(mistaken)
            return all(_alike(student.get(key), mistaken.get(key), item) for key, item in reference.items())
        if not (isinstance(student, (tuple, list)) and isinstance(mistaken, (tuple, list))
                and len(student) == len(mistaken) == len(reference)):
            return describe_type(student) == describe_type(mistaken)
        return all(_alike(s, m, r) for s, m, r in zip(student, mistaken, reference))
    got, wrong, want = as_array(student), as_array(mistaken), as_array(reference)
    if got is None or wrong is None or want is None:
        return describe_type(student) == describe_type(mistaken) and (
            not isinstance(reference, str) or student == mistaken)
    if got.size != wrong.size:
        return False
    got, wrong = np.squeeze(got).astype(np.float64), np.squeeze(wrong).astype(np.float64)
    if got.shape != wrong.shape:
        return False
    finite_reference = (np.isfinite(np.reshape(want.astype(np.float64), got.shape)) if want.size == got.size
                        else np.ones(got.shape, dtype=bool))
    # NaN and inf alike: what counts is that a number was expected and none came.
    if bool((~np.isfinite(got) & finite_reference).any()) != bool((~np.isfinite(wrong) & finite_reference).any()):
        return False
    both = np.isfinite(got) & np.isfinite(wrong)
    atol = LOOSE_ATOL * _scale(want.astype(np.float64))
    with np.errstate(all="ignore"):
        return bool(np.all(np.abs(got[both] - wrong[both]) <= atol + LOOSE_RTOL * np.abs(wrong[both])))


def behaves_like(ctx: Context, check: ValueCheck, case: Case, outcome: CallOutcome, mistaken: Any) -> bool:
    """Does the student's answer on ``case`` behave as the declared variant's does."""
    if isinstance(mistaken, MistakeRaised):
        return outcome.status == "error"
    if not outcome.ok:
        return False
    expected = ctx.expectations.expected(ctx.problem, case)
    try:
        wrong_parts = {c.path for c in value_comparisons(ctx, check, case, outcome.value, expected) if not c.equal}
        mistaken_parts = {c.path for c in value_comparisons(ctx, check, case, mistaken, expected) if not c.equal}
        if wrong_parts != mistaken_parts:
            return False
        return not wrong_parts or _alike(outcome.value, mistaken, expected)
    except (TypeError, ValueError):  # an answer of a kind no number can be read from is no known mistake
        return False


def diagnosed_by(check: object) -> bool:
    """Does a mistake get recognised by the parts this check reads: value and gradient checks
    (the kit ships the reference's and the mistakes' outputs on their cases for this)."""
    return isinstance(check, (ValueCheck, GradientCheck))


def diagnose(contexts: list[Context], results: list[CheckResult], outcomes: Mapping[str, CallOutcome]) -> tuple[Diagnosis, ...]:
    """The declared mistakes whose behaviour the student's answers share on every case.

    The cases are those of the value checks and of the gradient checks, whose derivatives (the
    parts their ``wrt`` names) are compared here as values, under the default tolerance: a mistake
    only a gradient check sees (a gate computed with ``.detach()``, a backward graded against its
    own forward) is named too."""
    value_runs = [
        (ctx, ctx.check if isinstance(ctx.check, ValueCheck)
         else ValueCheck(kind="value", parts=list(dict.fromkeys(ctx.check.wrt.values()))), result)
        for ctx, result in zip(contexts, results)
        if result.counted and diagnosed_by(ctx.check)
    ]
    if not value_runs or all(result.outcome is Outcome.PASSED for _, _, result in value_runs):
        return ()
    # Through a forward whose numerical gradient could not be had, or is one an answer knowing
    # nothing would give, the backward's behaviour says nothing of the backward: name no mistake.
    if any(own_gradient(ctx, ctx.check, case)[0] is None for ctx, _, _ in value_runs
           if isinstance(ctx.check, GradientCheck) and ctx.check.through == "student" for case in ctx.cases()):
        return ()
    problem = contexts[0].problem
    expectations = contexts[0].expectations
    found = []
    for mistake in problem.mistakes:
        try:
            if all(
                behaves_like(ctx, check, case, outcomes[ctx.base_key(case)],
                             expectations.mistake_output(problem, mistake, case))
                for ctx, check, _ in value_runs
                for case in ctx.cases()
                if not case.raises  # the exception a case expects is judged by its class alone
            ):
                found.append(Diagnosis(mistake=mistake.id, message=expectations.mistake_message(problem, mistake)))
        except Unavailable:
            continue
    return tuple(found)
