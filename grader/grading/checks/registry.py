"""The check registry: a plain dict from kind name to the functions that plan and judge it.

A check kind is two plain functions: ``plan`` says which calls it needs from the student's code
(``Call``), ``evaluate`` judges their outcomes against the expectations and returns a
``CheckResult``. Both run in the trusted process. Besides the registry, this module holds what the
kinds share: the ``Context`` they read and the helpers that judge cases. Every kind module is
imported by name in ``checks/__init__.py``, so the whole list is there in one place.
"""

from __future__ import annotations

import builtins
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from grader import wire
from grader.calls import Call, CallOutcome
from grader.cases import case_args, copy_args, named_args
from grader.compare import as_array, summarize
from grader.results import CaseResult, CheckResult, Comparison, Outcome, PartCredit
from grader.spec import Assignment, Case, Problem
from grader.wire import TensorArg

PlanFunction = Callable[["Context", Any], list[Call]]
EvaluateFunction = Callable[["Context", Any], CheckResult]


@dataclass(frozen=True)
class CheckKind:
    plan: PlanFunction
    evaluate: EvaluateFunction


REGISTRY: dict[str, CheckKind] = {}


def register(name: str, *, plan: PlanFunction) -> Callable[[EvaluateFunction], EvaluateFunction]:
    """Register ``evaluate`` (the decorated function) and ``plan`` as check kind ``name``."""

    def decorate(evaluate: EvaluateFunction) -> EvaluateFunction:
        REGISTRY[name] = CheckKind(plan=plan, evaluate=evaluate)
        return evaluate

    return decorate


@dataclass(frozen=True)
class Context:
    """What a check may look at: the spec, the run's mode, expectations and call outcomes."""

    assignment: Assignment
    problem: Problem
    check_index: int
    mode: str
    expectations: Any
    outcomes: Mapping[str, CallOutcome] = field(default_factory=dict)

    @property
    def check(self) -> Any:
        return self.problem.checks[self.check_index]

    @property
    def check_name(self) -> str:
        return self.problem.check_name(self.check_index)

    @property
    def module(self) -> str:
        return self.assignment.module_of(self.problem)

    def cases(self) -> list[Case]:
        """The check's cases that this run may use: public ones only in a student's self-check."""
        cases = self.problem.check_cases(self.check)
        return [case for case in cases if case.visibility == "public"] if self.mode == "check" else cases

    def base_key(self, case: Case) -> str:
        return f"{self.problem.id}/{case.name}"

    def base_call(self, case: Case) -> Call:
        """The call whose outcome most checks judge: the function on the case's arguments, or the
        problem's scenario (one round trip for all of its steps), whose value is its reads."""
        scenario = self.problem.steps
        if scenario is not None:
            plan = scenario.plan(self.problem.seed, self.assignment.helpers_code())
            return Call(key=self.base_key(case), module=self.module, function=self.problem.function_name,
                        op="scenario", args=(named_args(case),), options={"plan": plan},
                        hidden=case.visibility != "public")
        return Call(key=self.base_key(case), module=self.module, function=self.problem.function_name,
                    args=copy_args(case_args(case)), hidden=case.visibility != "public")

    def part_name(self, path: str) -> str:
        """'1' -> 'grad_W' (or the scenario's read, 'layer.dLdW') when the problem names its parts."""
        head, _, rest = path.partition(".")
        names = self.problem.part_names
        if names and head.isdigit() and int(head) < len(names):
            head = names[int(head)]
        return f"{head}.{rest}" if rest else head


CASE_TEXT_CHARS = {"traceback": 5000, "steps": 20_000}
"""Bounds of a public case's texts (others 2,000 characters): whatever the student returned."""


def case_result(
    ctx: Context,
    case: Case,
    outcome: Outcome,
    message: str,
    *,
    hidden_message: str = "",
    **details: Any,
) -> CaseResult:
    """A case's result; for a hidden case every input, value and traceback is left out (its parts'
    credit is kept: the check's score is made of it)."""
    if case.visibility == "public":
        scenario = ctx.problem.steps
        if scenario is not None and outcome is not Outcome.PASSED:
            details.setdefault("steps", scenario.script(dict(zip(case.args, case_args(case)))))
        # Messages quote what the code returned (a dict's keys, a type's name): bounded before stored.
        texts = {name: wire.clip(value, CASE_TEXT_CHARS.get(name, 2000)) for name, value in details.items()
                 if isinstance(value, str)}
        if "comparisons" in details:
            texts["comparisons"] = tuple(dataclasses.replace(c, message=wire.clip(c.message, 2000))
                                         for c in details["comparisons"])
        return CaseResult(case=case.name, public=True, outcome=outcome, message=wire.clip(message, 2000),
                          **{**details, **texts})
    # Only grader phrases (results.HIDDEN_PHRASES) reach a hidden case: CaseResult refuses others.
    return CaseResult(
        case=case.name,
        public=False,
        outcome=outcome,
        message="" if outcome is Outcome.PASSED else (hidden_message or "wrong answer on a hidden case"),
        hint=case.hint,
        parts=details.get("parts", ()),
    )


HIDDEN_FAILURES: dict[str, str] = {
    "error": "raised an exception on a hidden case",
    "timeout": "hit the time limit on a hidden case",
    "died": "crashed on a hidden case",
    "bad_return": "returned a value that cannot be graded on a hidden case",
    "protocol": "sent a malformed reply on a hidden case",
    "skipped": "not run on a hidden case",
}
"""What a hidden case says when its call returned no value: by status only, never the call's message."""


def failed_call(ctx: Context, case: Case, outcome: CallOutcome) -> CaseResult:
    """The case result when the call itself did not return a value."""
    kind = Outcome.TIMEOUT if outcome.status == "timeout" else Outcome.ERROR
    hidden = HIDDEN_FAILURES.get(outcome.status, "the function could not be called on a hidden case")
    return case_result(ctx, case, kind, outcome.message, hidden_message=hidden,
                       inputs=inputs_text(ctx, case), traceback=outcome.traceback)


def inputs_text(ctx: Context, case: Case) -> str:
    return ", ".join(f"{name}={summarize(value, limit=200)}" for name, value in zip(case.args, case_args(case)))


def combine(ctx: Context, results: list[CaseResult], *, passed_message: str = "") -> CheckResult:
    """All cases must pass for the check to pass; the message names the first failure. A check
    scored part by part (its cases carry ``parts``) earns the share of its parts right on every case
    (``part_score``); any other check earns nothing unless every case passed."""
    check = ctx.check
    if not results:
        return CheckResult(name=ctx.check_name, kind=check.kind, weight=check.weight, score=0.0,
                           outcome=Outcome.SKIPPED, message="runs on hidden cases only")
    failures = [result for result in results if not result.passed]
    if not failures:
        return CheckResult(name=ctx.check_name, kind=check.kind, weight=check.weight, score=1.0,
                           outcome=Outcome.PASSED, message=check.success_message or passed_message or
                           f"passed on {len(results)} case{'s' if len(results) > 1 else ''}",
                           cases=tuple(results))
    first = failures[0]
    outcome = first.outcome if first.outcome in (Outcome.ERROR, Outcome.TIMEOUT) else Outcome.FAILED
    message = f"failed on {len(failures)} of {len(results)} cases; case {first.case!r}: {first.message}"
    score, earning = part_score(results)
    if score > 0:
        message += f"; earns {score:.0%} of the check for {', '.join(name or 'the output' for name in earning)}"
    if check.failure_message:
        message = f"{check.failure_message} ({message})"
    return CheckResult(name=ctx.check_name, kind=check.kind, weight=check.weight, score=score,
                       outcome=outcome, message=message, cases=tuple(results))


def part_score(results: list[CaseResult]) -> tuple[float, list[str]]:
    """The share of a check earned part by part, and the parts that earned.

    A part earns its least credit over the check's cases (``PartCredit.credit``: right 1, right
    values in a shape differing by dimensions of size 1 the spec's ``shape_credit``, wrong 0; a case
    whose call raised or timed out gives every part 0): no wrong answer earns a point. Parts weigh
    alike. A part whose reference value is trivial on every case (zeros, ones, an input handed back)
    earns only when a part that is not trivial earns too, so that an answer knowing nothing of the
    problem earns nothing; a check whose parts are all trivial earns all or nothing.
    """
    if not any(case.parts for case in results):
        return 0.0, []
    names = list(dict.fromkeys(part.part for case in results for part in case.parts))
    credit = {name: 1.0 for name in names}
    trivial = {name: True for name in names}
    for case in results:
        if case.passed and not case.parts:
            continue  # a case that expects an exception, and got it: no part is wrong there
        of_case = {part.part: part for part in case.parts}
        for name in names:
            part = of_case.get(name)
            credit[name] = min(credit[name], part.credit if part is not None else 0.0)
            trivial[name] = trivial[name] and part is not None and part.trivial
    earning = [name for name in names if credit[name] > 0]
    if all(trivial.values()):
        return (1.0, names) if all(value >= 1.0 for value in credit.values()) else (0.0, [])
    if not any(credit[name] > 0 and not trivial[name] for name in names):
        return 0.0, []
    return sum(credit.values()) / len(names), earning


def part_credits(
    parts: list[tuple[str, Any]], comparisons: list[Comparison], case: Case, shape_credit: float,
    matches: Callable[[Any, Any], bool],
) -> tuple[PartCredit, ...]:
    """Each part's credit on a case, from the comparisons that cover it.

    ``parts``: (name, reference value) of every leaf scored; a comparison covers the parts at or
    under its path (a tuple of the wrong length fails every part in it). ``matches(candidate,
    reference)`` says whether a candidate would be taken for the reference, under the check's
    tolerance: it marks the parts that an answer knowing nothing would get right.
    """
    inputs = [leaf for value in case_args(case) for leaf in numeric_leaves(value)]
    credits = []
    for name, reference in parts:
        covering = [c for c in comparisons if not c.path or name == c.path or name.startswith(c.path + ".")]
        if covering and all(c.equal for c in covering):
            credit = 1.0
        elif covering and all(c.equal or c.reason == "shape_only" for c in covering):
            credit = shape_credit
        else:
            credit = 0.0
        credits.append(PartCredit(part=name, credit=credit, trivial=is_trivial(reference, inputs, matches)))
    return tuple(credits)


def numeric_leaves(value: Any) -> list[np.ndarray]:
    if type(value) is TensorArg:
        value = value.array
    if isinstance(value, (tuple, list)) and as_array(value) is None:
        return [leaf for item in value for leaf in numeric_leaves(item)]
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in numeric_leaves(item)]
    array = as_array(value)
    return [array] if array is not None and array.dtype.kind in "biuf" else []


def is_trivial(reference: Any, inputs: list[np.ndarray], matches: Callable[[Any, Any], bool]) -> bool:
    """Would an answer that knows nothing of the problem get this part right: zeros, ones, an input
    handed back (``grader lint``'s degenerate answers), or a value that is not a number (a flag, a
    name), which those answers keep as they are."""
    array = as_array(reference)
    if array is None or array.dtype.kind == "b" or isinstance(reference, (bool, np.bool_)):
        return True
    candidates = [np.zeros_like(array, dtype=np.float64), np.ones_like(array, dtype=np.float64)]
    candidates += [leaf for leaf in inputs if leaf.shape == array.shape]
    return any(matches(candidate, reference) for candidate in candidates)


def leaf_parts(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """(path, value) of every leaf of an output, named as ``grader.compare.compare`` names them."""
    if isinstance(value, tuple):
        return [leaf for index, item in enumerate(value) for leaf in leaf_parts(item, f"{path}.{index}" if path else str(index))]
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in leaf_parts(item, f"{path}.{key}" if path else str(key))]
    return [(path, value)]


def judge_cases(
    ctx: Context, judge: Callable[[Case, CallOutcome], CaseResult], *, passed_message: str = ""
) -> CheckResult:
    """Judge each case's returned value with ``judge``; a call that returned nothing fails its case."""
    results = []
    for case in ctx.cases():
        outcome = ctx.outcomes[ctx.base_key(case)]
        if case.raises:
            results.append(expected_raise(ctx, case, outcome))
        else:
            results.append(judge(case, outcome) if outcome.ok else failed_call(ctx, case, outcome))
    return combine(ctx, results, passed_message=passed_message)


def raised(exception: str, expected: str) -> bool:
    """Did an exception of class name ``exception`` satisfy a case that expects ``expected``: the
    same name, or a built-in subclass of a built-in class (a KeyError where a LookupError is asked)."""
    if exception == expected:
        return True
    got, want = getattr(builtins, exception, None), getattr(builtins, expected, None)
    return (isinstance(got, type) and isinstance(want, type) and issubclass(want, BaseException)
            and issubclass(got, want))


def expected_raise(ctx: Context, case: Case, outcome: CallOutcome) -> CaseResult:
    """A case whose arguments the handout says must raise (``raises:``)."""
    assert case.raises is not None
    if outcome.status == "error" and raised(outcome.exception, case.raises):
        return case_result(ctx, case, Outcome.PASSED, "")
    if outcome.ok:
        return case_result(ctx, case, Outcome.FAILED, f"expected {case.raises} to be raised, but the code returned",
                           inputs=inputs_text(ctx, case), obtained=summarize(outcome.value))
    if outcome.status == "error":
        return case_result(ctx, case, Outcome.FAILED,
                           f"expected {case.raises} to be raised, got {outcome.exception or 'another exception'}: "
                           f"{outcome.message}", inputs=inputs_text(ctx, case), traceback=outcome.traceback)
    return failed_call(ctx, case, outcome)


def plan_base_calls(ctx: Context, check: Any) -> list[Call]:
    """One call of the student's function per case: what most checks need."""
    return [ctx.base_call(case) for case in ctx.cases()]

