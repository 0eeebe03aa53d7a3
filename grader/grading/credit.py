"""Which checks' credit counts: a property earns points only where the values are right.

A property check (sums to one, symmetric, in range, shift invariant, does not modify its inputs)
is a requirement that a wrong answer passes trivially: zeros are symmetric, the input echoed is
shift invariant, any function that returns something new leaves its inputs alone. So its credit
counts only on the cases where the answer is right: each of its cases counts when every value and
gradient check of the problem that ran on that case passed on it. A passed property's score is
the share of its cases that count; the feedback says why the rest earned nothing. A case that no
value or gradient check runs on counts when every value and gradient check of the problem passed.
A problem without value or gradient checks has nothing to gate on; ``grader lint`` refuses it,
since a degenerate answer scores there.

Value, gradient, stability (finite, warning-free and right) and accuracy checks judge correctness
themselves, so their credit is left as it is: an answer right on the public cases but not on the
hidden ones keeps the points of the public cases.
"""

from __future__ import annotations

import dataclasses

from grader.grading.checks import Context
from grader.results import CheckResult
from grader.spec import GradientCheck, PropertyCheck, ValueCheck

GATED = (PropertyCheck,)
"""Check kinds whose credit counts only where the values are right."""
JUDGES = (ValueCheck, GradientCheck)
"""Check kinds that say whether the values on a case are right."""


def _right_cases(contexts: list[Context], results: list[CheckResult]) -> tuple[dict[str, bool], bool]:
    """Per case: were all value/gradient checks that ran on it passed there; and did they all pass."""
    right: dict[str, bool] = {}
    judged = False
    for ctx, result in zip(contexts, results):
        if not isinstance(ctx.check, JUDGES) or not result.counted:
            continue
        judged = True
        passed = {case.case for case in result.cases if case.passed}
        for case in ctx.cases():
            right[case.name] = right.get(case.name, True) and case.name in passed
    return right, judged and all(right.values())


def apply_credit_rule(contexts: list[Context], results: list[CheckResult]) -> list[CheckResult]:
    """The check results with each property's score limited to the cases whose values are right."""
    right, all_right = _right_cases(contexts, results)
    if not any(isinstance(ctx.check, JUDGES) and result.counted for ctx, result in zip(contexts, results)):
        return results  # nothing says what is right: `grader lint` refuses such a problem (degenerates score)
    gated = []
    for ctx, result in zip(contexts, results):
        if not isinstance(ctx.check, GATED) or not result.counted or result.score == 0:
            gated.append(result)
            continue
        names = [case.name for case in ctx.cases()]
        counting = [name for name in names if right.get(name, all_right)]
        if len(counting) == len(names):
            gated.append(result)
            continue
        wrong = [name for name in names if name not in counting]
        listed = ", ".join(repr(name) for name in wrong[:3]) + (f" and {len(wrong) - 3} more" if len(wrong) > 3 else "")
        earned = "earns nothing yet" if not counting else f"counts on {len(counting)} of {len(names)} cases"
        message = (f"{result.message}; {earned}: a property counts once your values are right "
                   f"(wrong values on case{'s' if len(wrong) > 1 else ''} {listed})")
        gated.append(dataclasses.replace(
            result, score=result.score * len(counting) / len(names), message=message,
            data={**result.data, "counts_on": counting},
        ))
    return gated

