"""Checks on a function's returned values: against the reference, for stability, for invariants."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from grader.calls import Call, CallOutcome
from grader.cases import case_args, copy_args
from grader.compare import as_array, compare, summarize
from grader.grading.checks.registry import (Context, case_result, inputs_text, judge_cases, leaf_parts, part_credits,
                                           plan_base_calls, register)
from grader.results import CaseResult, CheckResult, Comparison, Outcome
from grader.spec import Case, PropertyCheck, StabilityCheck, ValueCheck
from grader.values import first_unread, select


def value_comparisons(ctx: Context, check: ValueCheck, case: Case, value: Any, expected: Any) -> list[Comparison]:
    """How ``value`` differs from the reference's output on ``case``, under ``check``'s tolerance."""
    detail = case.visibility == "public"
    if check.parts is None:
        comparisons = compare(value, expected, rtol=check.rtol, atol=check.atol, nan=check.nan, detail=detail,
                              single_element_scalars=ctx.assignment.single_element_scalars)
        return [dataclasses.replace(c, path=ctx.part_name(c.path)) for c in comparisons]
    comparisons = []
    for part in check.parts:
        path = ctx.problem.part_path(part)
        try:
            obtained = select(value, path)
        except KeyError:
            comparisons.append(Comparison(path=part, equal=False, reason="missing",
                                          message=f"the output has no part {part}"))
            continue
        comparisons += compare(obtained, select(expected, path), rtol=check.rtol, atol=check.atol,
                               nan=check.nan, path=part, detail=detail,
                               single_element_scalars=ctx.assignment.single_element_scalars)
    return comparisons


def _value_parts(ctx: Context, check: ValueCheck, expected: Any) -> list[tuple[str, Any]]:
    """(name, reference value) of each part the check scores, named as its comparisons are."""
    if check.parts is None:
        return [(ctx.part_name(path), value) for path, value in leaf_parts(expected)]
    parts = []
    for part in check.parts:
        parts += leaf_parts(select(expected, ctx.problem.part_path(part)), part)
    return parts


def listed(messages: list[str], shown: int = 3) -> str:
    """The first ``shown`` messages, and how many more there are: a list is never cut silently."""
    more = len(messages) - shown
    return "; ".join(messages[:shown]) + (f"; and {more} more" if more > 0 else "")


@register("value", plan=plan_base_calls)
def check_value(ctx: Context, check: ValueCheck) -> CheckResult:
    """The student's output (or the parts the check names) equals the reference's on every case;
    each part (a read, a returned element, a dict entry) earns its share on its own."""

    def matches(candidate: Any, reference: Any) -> bool:
        return all(c.equal for c in compare(candidate, reference, rtol=check.rtol, atol=check.atol, nan=check.nan,
                                            detail=False))

    def judge(case: Case, outcome: CallOutcome) -> CaseResult:
        expected = ctx.expectations.expected(ctx.problem, case)
        comparisons = value_comparisons(ctx, check, case, outcome.value, expected)
        parts = part_credits(_value_parts(ctx, check, expected), comparisons, case, check.shape_credit, matches)
        wrong = [c for c in comparisons if not c.equal]
        if not wrong:
            return case_result(ctx, case, Outcome.PASSED, "", comparisons=tuple(comparisons), parts=parts)
        message = listed([(f"{c.path}: " if c.path else "") + c.message for c in wrong])
        hidden = ("wrong shape on a hidden case" if any(c.reason in ("shape", "shape_only", "type") for c in wrong)
                  else "")
        return case_result(
            ctx, case, Outcome.FAILED, message, hidden_message=hidden,
            inputs=inputs_text(ctx, case), expected=summarize(expected), obtained=summarize(outcome.value),
            comparisons=tuple(comparisons), parts=parts,
        )

    return judge_cases(ctx, judge)


def _value_check_of(ctx: Context, case: Case) -> ValueCheck:
    """The problem's value check that runs on ``case`` (its tolerance and parts), or the default one."""
    for check in ctx.problem.checks:
        if isinstance(check, ValueCheck) and case.name in {c.name for c in ctx.problem.check_cases(check)}:
            return check
    return ValueCheck(kind="value")


def _leaves(value: Any) -> list[np.ndarray]:
    if isinstance(value, (tuple, list)) and not (isinstance(value, list) and as_array(value) is not None):
        return [leaf for item in value for leaf in _leaves(item)]
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    array = as_array(value)
    return [array] if array is not None else []


@register("stability", plan=plan_base_calls)
def check_stability(ctx: Context, check: StabilityCheck) -> CheckResult:
    """Finite output, no floating-point warnings, and the reference's values, on inputs the handout
    calls large: an answer that is merely finite (zeros) is not stable, it is wrong."""

    def judge(case: Case, outcome: CallOutcome) -> CaseResult:
        bad = sum(int((~np.isfinite(leaf.astype(np.float64))).sum()) for leaf in _leaves(outcome.value))
        problems = []
        if bad:
            problems.append(f"{bad} non-finite value{'s' if bad > 1 else ''} (NaN or inf) in the output")
        if outcome.warnings:
            problems.append("floating-point warning: " + "; ".join(dict.fromkeys(outcome.warnings)))
        expected = ctx.expectations.expected(ctx.problem, case)
        if not bad:
            wrong = [c for c in value_comparisons(ctx, _value_check_of(ctx, case), case, outcome.value, expected)
                     if not c.equal]
            if wrong:
                problems.append("wrong values: " + listed([(f"{c.path}: " if c.path else "") + c.message
                                                           for c in wrong], shown=2))
        if not problems:
            return case_result(ctx, case, Outcome.PASSED, "")
        return case_result(ctx, case, Outcome.FAILED, "; ".join(problems),
                           hidden_message="not stable or not right on a hidden case",
                           inputs=inputs_text(ctx, case), expected=summarize(expected),
                           obtained=summarize(outcome.value))

    return judge_cases(ctx, judge, passed_message="finite, warning-free and right on every case")


def _shift_key(ctx: Context, case_key: str) -> str:
    return f"{case_key}/shift#{ctx.check_index}"


def _plan_property(ctx: Context, check: PropertyCheck) -> list[Call]:
    calls = plan_base_calls(ctx, check)
    if check.property == "shift_invariant":
        for case in ctx.cases():
            names = list(case.args)
            args = list(copy_args(case_args(case)))
            assert check.arg is not None  # the spec requires it for shift_invariant
            index = names.index(check.arg)
            args[index] = args[index] + check.shift
            calls.append(Call(key=_shift_key(ctx, ctx.base_key(case)), module=ctx.module,
                              function=ctx.problem.function_name, args=tuple(args),
                              hidden=case.visibility != "public"))
    return calls


@register("property", plan=_plan_property)
def check_property(ctx: Context, check: PropertyCheck) -> CheckResult:
    """An invariant that needs no reference: sums to one, symmetry, range, shift, no mutation."""

    def judge(case: Case, outcome: CallOutcome) -> CaseResult:
        problem = _property_violation(ctx, check, case, outcome.value, outcome.modified_args)
        if not problem:
            return case_result(ctx, case, Outcome.PASSED, "")
        return case_result(ctx, case, Outcome.FAILED, problem,
                           hidden_message=f"property {check.property} violated on a hidden case",
                           inputs=inputs_text(ctx, case), obtained=summarize(outcome.value))

    return judge_cases(ctx, judge, passed_message=f"{check.property.replace('_', ' ')} on every case")


def _property_violation(ctx: Context, check: PropertyCheck, case: Case, value: Any, modified: tuple[int, ...]) -> str:
    if check.property == "does_not_modify_inputs":
        names = list(case.args)
        changed = [names[i] for i in modified if 0 <= i < len(names)]
        return f"modified its input{'s' if len(changed) > 1 else ''} {', '.join(changed)} in place" if changed else ""
    if check.part is not None:  # a scenario's read
        try:
            value = select(value, ctx.problem.part_path(check.part))
        except KeyError:
            return f"the output has no part {check.part}"
    unread = first_unread(value)
    if unread is not None:  # a property of a value never read holds of nothing
        return f"{check.part or 'a part'}: {unread.message}"
    if check.property == "finite":
        bad = sum(int((~np.isfinite(leaf.astype(np.float64))).sum()) for leaf in _leaves(value)
                  if leaf.dtype.kind in "biufc")
        return f"{bad} non-finite value{'s' if bad > 1 else ''} (NaN or inf)" if bad else ""
    array = as_array(value)
    if array is None:
        return f"returned {type(value).__name__}, not an array"
    array = array.astype(np.float64)
    with np.errstate(all="ignore"):
        if check.property == "sums_to_one":
            if array.ndim == 0:
                return "returned a scalar, expected an array that sums to 1"
            sums = array.sum(axis=check.axis)
            if not np.allclose(sums, 1.0, rtol=check.rtol, atol=max(check.atol, 1e-9)):
                return f"sums along axis {check.axis} are {summarize(sums)}, not 1"
        elif check.property == "symmetric":
            if array.ndim != 2 or array.shape[0] != array.shape[1]:
                return f"expected a square matrix, got shape {array.shape}"
            if not np.allclose(array, array.T, rtol=check.rtol, atol=check.atol):
                return f"not symmetric: largest |A - A.T| is {np.nanmax(np.abs(array - array.T)):.3g}"
        elif check.property == "in_range":
            low = -np.inf if check.low is None else check.low
            high = np.inf if check.high is None else check.high
            outside = ~((array >= low) & (array <= high))
            if outside.any():
                return f"{int(outside.sum())} values outside [{low}, {high}] (e.g. {array[outside].flat[0]:.6g})"
        elif check.property == "shift_invariant":
            shifted = ctx.outcomes[_shift_key(ctx, ctx.base_key(case))]
            if not shifted.ok:
                return f"with {check.arg} + {check.shift:g}: {shifted.message}"
            wrong = [c for c in compare(shifted.value, value, rtol=check.rtol, atol=check.atol) if not c.equal]
            if wrong:
                return f"adding {check.shift:g} to {check.arg} changed the output: {wrong[0].message}"
    return ""
