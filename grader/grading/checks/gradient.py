"""Gradient checks: the student's analytic derivatives against numerical ones.

The numerical derivative is taken in the trusted process of a reference function (a forward pass
or a scalar objective with the problem's own arguments), by central finite differences in float64
or by torch autograd, and cached per case by the expectations. The verdict follows
``torch.autograd.gradcheck`` (every entry within ``atol + rtol * |numerical|``) and the feedback
reports the relative error as every check does (``grader.compare.RELATIVE_ERROR``): 2 for a wrong
sign, 1 for a spurious factor 2, below 1e-7 for a correct float64 implementation. Each part (each
key of ``wrt``: an argument, or where a value lives, ``layer.W``) earns its share on its own
(``registry.part_score``). With ``through: student`` the derivative is also taken of the student's
own forward, in their worker, and a part passes when it matches either that one or the reference's.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from grader.calls import Call, CallOutcome
from grader.cases import case_args, named_args
from grader.compare import as_array, compare_arrays, summarize
from grader.grading.checks.registry import (Context, case_result, inputs_text, judge_cases, numeric_leaves,
                                           is_trivial, part_credits, plan_base_calls, register)
from grader.results import CaseResult, CheckResult, Comparison, Outcome
from grader.spec import Case, GradientCheck
from grader.values import select
from grader.wire import Unread


def _as_float_array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor from a torch-written reference
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def numerical_gradient(function: Callable[..., Any], args: tuple[Any, ...], index: int, eps: float) -> np.ndarray:
    """d function(*args) / d args[index] by central differences; shape output.shape + arg.shape."""
    base = [np.array(arg, dtype=np.float64) if i == index else arg for i, arg in enumerate(args)]
    point = base[index]
    output_shape = _as_float_array(function(*[a.copy() if isinstance(a, np.ndarray) else a for a in base])).shape
    jacobian = np.zeros(output_shape + point.shape)
    for flat in range(point.size):
        position: tuple[int, ...] = tuple(int(i) for i in np.unravel_index(flat, point.shape))
        values = []
        for sign in (1.0, -1.0):
            moved = point.copy()
            moved[position] += sign * eps
            call_args = [a.copy() if isinstance(a, np.ndarray) else a for a in base]
            call_args[index] = moved
            values.append(_as_float_array(function(*call_args)))
        jacobian[(Ellipsis, *position)] = (values[0] - values[1]) / (2 * eps)  # type: ignore[index]
    return jacobian


def autograd_gradient(function: Callable[..., Any], args: tuple[Any, ...], index: int) -> np.ndarray:
    """The same derivative by torch autograd, for a reference written with torch operations."""
    import torch

    tensors = [torch.tensor(arg, dtype=torch.float64) if isinstance(arg, np.ndarray) else arg for arg in args]

    def partial(x: Any) -> Any:
        call_args = list(tensors)
        call_args[index] = x
        return function(*call_args)

    jacobian = torch.autograd.functional.jacobian(partial, tensors[index])
    return jacobian.detach().numpy()


def compare_gradient(obtained: Any, numerical: np.ndarray, check: GradientCheck, path: str, detail: bool) -> Comparison:
    """The analytic gradient against the numerical one under gradcheck's rule (``compare_arrays``)."""
    if isinstance(obtained, Unread):  # named, as a value check's part is: d/d(layer.W): `layer.dW` ...
        return Comparison(path=path, equal=False, reason="missing", message=f"`{path}` {obtained.message}")
    analytic = as_array(obtained)
    if analytic is None:
        got = type(obtained).__name__
        if obtained is None and path.endswith(".grad"):
            # torch leaves .grad None where backward never reached: the likeliest cause is worth saying.
            got = ("None: no gradient reached it (a .detach(), .data or numpy on the way cuts autograd's graph), "
                   "or it is not a leaf tensor, whose .grad torch does not keep")
        return Comparison(path=path, equal=False, reason="type", message=f"expected an array, got {got}")
    return compare_arrays(analytic, numerical, rtol=check.rtol, atol=check.atol, path=path, detail=detail, rule="sum")


def _own_gradient_key(ctx: Context, case: Case) -> str:
    return f"{ctx.base_key(case)}/own-gradient#{ctx.check_index}"


def _plan_gradient(ctx: Context, check: GradientCheck) -> list[Call]:
    """The base calls, and for ``through: student`` one more per case: the numerical gradient of
    the student's own forward, taken in their worker (``interpreter.plan_gradient``)."""
    calls = plan_base_calls(ctx, check)
    if check.through == "student":
        of = ctx.problem.gradient_of(check)
        assert of is not None  # the spec requires `of` with through: student
        plan = of.plan(ctx.problem.seed, ctx.assignment.helpers_code())
        numgrad = {"wrt": [target.wire() for target in ctx.problem.gradient_targets(check)],
                   "upstream": check.upstream, "eps": check.eps}
        calls += [Call(key=_own_gradient_key(ctx, case), module=ctx.module, function=ctx.problem.function_name,
                       op="scenario", args=(named_args(case),), options={"plan": plan, "numgrad": numgrad},
                       hidden=case.visibility != "public")
                  for case in ctx.cases()]
    return calls


def own_gradient(ctx: Context, check: GradientCheck, case: Case) -> tuple[dict[str, np.ndarray] | None, str]:
    """The numerical gradient of the student's own forward on ``case``, or why it cannot be had.

    A gradient an answer knowing nothing would give (all zeros, all ones, an input handed back)
    where the reference's is not is refused: a forward that ignores its input and a backward that
    returns zeros agree with each other, and must not earn the backward's points for it."""
    outcome = ctx.outcomes[_own_gradient_key(ctx, case)]
    if not outcome.ok:
        return None, f"the numerical gradient of your own forward could not be taken: {outcome.message}"
    value = outcome.value
    reference = ctx.expectations.gradient(ctx.problem, ctx.check_index, case)
    if not isinstance(value, dict) or set(value) != set(check.wrt):
        return None, "the numerical gradient of your own forward could not be taken"
    inputs = [leaf for arg in case_args(case) for leaf in numeric_leaves(arg)]
    gradients = {}
    for name in check.wrt:
        own = as_array(value[name])
        if own is None or own.shape != np.shape(reference[name]):
            return None, f"the numerical gradient of your own forward with respect to {name} has the wrong shape"
        own = own.astype(np.float64)
        expected = np.asarray(reference[name], dtype=np.float64)
        if is_trivial(own, inputs, _close) and not is_trivial(expected, inputs, _close):
            return None, (f"your forward's numerical gradient with respect to {name} is all zeros, all ones or an "
                          "input handed back, where the reference's is not: the forward does not compute it")
        gradients[name] = own
    return gradients, ""


def _close(candidate: Any, gradient: Any) -> bool:
    return bool(np.allclose(gradient, candidate, rtol=1e-6, atol=1e-9))


@register("gradient", plan=_plan_gradient)
def check_gradient(ctx: Context, check: GradientCheck) -> CheckResult:
    """Each requested part of the student's output against the numerical derivative (of the
    reference's forward, or with ``through: student`` of the student's own)."""

    def matches(candidate: Any, reference: Any) -> bool:
        return compare_arrays(np.asarray(candidate, dtype=np.float64), reference, rtol=check.rtol, atol=check.atol,
                              detail=False, rule="sum").equal

    def judge(case: Case, outcome: CallOutcome) -> CaseResult:
        reference = ctx.expectations.gradient(ctx.problem, ctx.check_index, case)
        own, unavailable = own_gradient(ctx, check, case) if check.through == "student" else (None, "")
        detail = case.visibility == "public"
        comparisons = []
        # Each derivative named as the spec writes its part (``dx``, ``layer.dLdW``), the student's
        # and the numerical one under the same name; `against` is the numerical one it is judged by.
        names: dict[str, str] = {}
        obtained: dict[str, Any] = {}
        against: dict[str, np.ndarray] = {}
        for arg, path in check.wrt.items():
            label = f"d/d{arg}" if arg.isidentifier() else f"d/d({arg})"  # d/dx, d/d(layer.W)
            names[path] = ctx.part_name(path) or label
            against[arg] = reference[arg] if own is None else own[arg]
            try:
                part = select(outcome.value, ctx.problem.part_path(path))
                obtained[names[path]] = part
            except KeyError:
                comparisons.append(Comparison(path=path, equal=False, reason="missing",
                                              message=f"{label}: the output has no part {ctx.part_name(path)!r}"))
                continue
            comparison = compare_gradient(part, against[arg], check, path, detail)
            if own is not None and not comparison.equal:
                # Through the student's forward, the reference's derivative is right too: a backward
                # that does what the handout asks (test-mode dropout's dx = dout) after a forward
                # that does not (scaling by p at test time) has made no mistake of its own.
                by_reference = compare_gradient(part, reference[arg], check, path, detail)
                if by_reference.equal:
                    against[arg], comparison = reference[arg], by_reference
            if not comparison.equal:
                comparison = dataclasses.replace(comparison, message=f"{label}: {comparison.message}")
            comparisons.append(comparison)
        wrong = [c for c in comparisons if not c.equal]
        if wrong and check.through == "student" and own is None:
            return case_result(ctx, case, Outcome.FAILED, unavailable, hidden_message="gradient wrong on a hidden case",
                               inputs=inputs_text(ctx, case))
        parts = part_credits([(path, against[arg]) for arg, path in check.wrt.items()], comparisons, case,
                             check.shape_credit, matches)
        if not wrong:
            worst = max((c.max_rel_error or 0.0) for c in comparisons)
            return case_result(ctx, case, Outcome.PASSED, f"largest relative error {worst:.2g}",
                               comparisons=tuple(comparisons), parts=parts)
        # Only the derivatives that are wrong: the right ones would push them out of the preview.
        shown = [names[c.path] for c in wrong]
        return case_result(
            ctx, case, Outcome.FAILED, "; ".join(c.message for c in wrong),
            hidden_message="gradient wrong on a hidden case", inputs=inputs_text(ctx, case),
            expected=summarize({names[path]: against[arg] for arg, path in check.wrt.items()
                                if names[path] in shown}),
            obtained=summarize({name: value for name, value in obtained.items() if name in shown}),
            comparisons=tuple(comparisons), parts=parts,
        )

    return judge_cases(ctx, judge)
