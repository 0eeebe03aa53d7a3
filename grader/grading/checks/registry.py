"""The check registry: a plain dict from kind name to the functions that plan and judge it.

A check kind is two plain functions: ``plan`` says which calls it needs from the student's code
(``Call``), ``evaluate`` judges their outcomes against the expectations and returns a
``CheckResult``. Both run in the trusted process. Besides the registry, this module holds what the
kinds share: the ``Context`` they read and the helpers that judge cases. Every kind module is
imported by name in ``checks/__init__.py``, so the whole list is there in one place.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from grader import wire
from grader.calls import Call, CallOutcome
from grader.cases import case_args, copy_args, named_args
from grader.compare import summarize
from grader.results import CaseResult, CheckResult, Outcome
from grader.spec import Assignment, Case, Problem

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
            return Call(key=self.base_key(case), module=self.module, function=self.problem.function_name,
                        op="scenario", args=(named_args(case),), options={"plan": scenario.plan(self.problem.seed)},
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
    """A case's result; for a hidden case every input, value and traceback is left out."""
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
    """All cases must pass for the check to pass; the message names the first failure."""
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
    if check.failure_message:
        message = f"{check.failure_message} ({message})"
    return CheckResult(name=ctx.check_name, kind=check.kind, weight=check.weight, score=0.0,
                       outcome=outcome, message=message, cases=tuple(results))


def judge_cases(
    ctx: Context, judge: Callable[[Case, CallOutcome], CaseResult], *, passed_message: str = ""
) -> CheckResult:
    """Judge each case's returned value with ``judge``; a call that returned nothing fails its case."""
    results = []
    for case in ctx.cases():
        outcome = ctx.outcomes[ctx.base_key(case)]
        results.append(judge(case, outcome) if outcome.ok else failed_call(ctx, case, outcome))
    return combine(ctx, results, passed_message=passed_message)


def plan_base_calls(ctx: Context, check: Any) -> list[Call]:
    """One call of the student's function per case: what most checks need."""
    return [ctx.base_call(case) for case in ctx.cases()]

