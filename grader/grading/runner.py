"""Grade one submission: spec -> calls in a sandbox -> check results -> a GradeReport.

The runner plans every check's calls for a problem, has a session run them (in a sandboxed
worker, or in-process for trusted code), lets each check judge the outcomes, and adds the
diagnosis. A problem whose calls could not run (missing function, import error, a limit) still
gets a result with a clear reason; only errors of the instructor's making raise.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Any, Callable

from grader.calls import LIMIT_STATUSES, Call, CallOutcome, Session, wall_clock_net
from grader.errors import GraderError
from grader.grading.checks import REGISTRY, Context
from grader.grading.credit import apply_credit_rule
from grader.grading.diagnosis import diagnose
from grader.grading.expectations import Unavailable
from grader.grading.fingerprint import wrong_answers
from grader.results import CheckResult, GradeReport, Outcome, ProblemResult
from grader.spec import Assignment, Problem

SessionFactory = Callable[[Path, float], Session]
"""Makes the session for one submission folder, given its deadline (time.monotonic)."""


def plan_problem(assignment: Assignment, problem: Problem, expectations: Any, mode: str) -> tuple[list[Context], list[Call]]:
    contexts = [Context(assignment, problem, index, mode, expectations) for index in range(len(problem.checks))]
    calls: dict[str, Call] = {}
    for ctx in contexts:
        try:
            planned = REGISTRY[ctx.check.kind].plan(ctx, ctx.check)
        except Unavailable:
            continue
        for call in planned:
            calls.setdefault(call.key, call)
    # Public calls first: a public case's output and messages come from a worker that has not yet
    # seen a hidden input (the session starts a fresh worker for public calls after hidden ones).
    return contexts, sorted(calls.values(), key=lambda call: call.hidden)


HIDDEN_STATUSES = {
    "missing_module": "the module could not be found",
    "import_error": "the module could not be imported",
    "not_defined": "the function is not defined",
    "timeout": "hit the time limit on a hidden case",
    "died": "crashed on a hidden case",
    "protocol": "sent a malformed reply on a hidden case",
}
"""A hidden call's status in the grader's words: everything in a worker's reply is the student's to
write (a reply can claim any status), so a hidden call's own message is never shown."""


def _status(problem: Problem, outcomes: dict[str, CallOutcome], hidden: set[str]) -> tuple[str, str]:
    """Why a problem could not be graded normally, from its calls' outcomes (``hidden``: the keys
    of calls on hidden cases)."""

    def said(outcome: CallOutcome) -> str:
        return HIDDEN_STATUSES.get(outcome.status, "failed on a hidden case") if outcome.key in hidden else outcome.message

    statuses = [outcome.status for outcome in outcomes.values()]
    if not statuses:
        return "graded", ""
    for outcome in outcomes.values():
        if outcome.status in ("missing_module", "import_error"):
            return ("missing" if outcome.status == "missing_module" else "import_error"), said(outcome)
    if all(status == "not_defined" for status in statuses):
        return "missing", said(next(iter(outcomes.values())))
    for outcome in outcomes.values():
        if outcome.status in LIMIT_STATUSES:
            return "limit", said(outcome)
    return "graded", ""


def _evaluate(ctx: Context) -> CheckResult:
    try:
        return REGISTRY[ctx.check.kind].evaluate(ctx, ctx.check)
    except Unavailable:
        return CheckResult(name=ctx.check_name, kind=ctx.check.kind, weight=ctx.check.weight, score=0.0,
                           outcome=Outcome.SKIPPED, message="needs the reference; runs in the instructor's grading only")
    except GraderError:
        raise  # the instructor's spec or reference is broken: stop before grading more
    except Exception as error:  # noqa: BLE001 - an answer the grader cannot judge must not stop the class
        print(f"grader: could not judge {ctx.problem.id}/{ctx.check_name}: {type(error).__name__}: {error}",
              file=sys.stderr)
        return CheckResult(name=ctx.check_name, kind=ctx.check.kind, weight=ctx.check.weight, score=0.0,
                           outcome=Outcome.ERROR,
                           message=f"the grader could not judge this answer ({type(error).__name__}); "
                           "please report it to your instructor")


def grade_problem(assignment: Assignment, problem: Problem, session: Session, expectations: Any, mode: str) -> ProblemResult:
    contexts, calls = plan_problem(assignment, problem, expectations, mode)
    outcomes, printed = session.run(calls, assignment.limits_of(problem))
    return judge_problem(problem, contexts, calls, outcomes, printed, expectations, mode)


def judge_problem(problem: Problem, contexts: list[Context], calls: list[Call], outcomes: dict[str, CallOutcome],
                  printed: str, expectations: Any, mode: str) -> ProblemResult:
    """A problem's result from its calls' outcomes: the checks' verdicts, the credit rule, the
    diagnosis, and the wrong answers for the class summary."""
    judged = [Context(ctx.assignment, ctx.problem, ctx.check_index, mode, expectations, outcomes) for ctx in contexts]
    results = apply_credit_rule(judged, [_evaluate(ctx) for ctx in judged])
    status, message = _status(problem, outcomes, {call.key for call in calls if call.hidden})
    diagnoses = diagnose(judged, results, outcomes) if status == "graded" else ()
    return ProblemResult(
        problem=problem.id,
        points=problem.points,
        checks=tuple(results),
        status=status,
        message=message,
        diagnoses=diagnoses,
        output=printed,
        # Wrong answers no declared mistake explains, for the class summary's clusters.
        wrong_answers=wrong_answers(results, outcomes, problem.id) if status == "graded" and not diagnoses else (),
    )


def _grade_all(assignment: Assignment, session: Session, expectations: Any, mode: str) -> tuple[ProblemResult, ...]:
    """Every problem's public calls, then every problem's hidden calls, then the verdicts.

    A worker that ran a hidden call answers no public call again (the session starts a fresh one,
    so no public output can carry a hidden input): problem by problem, public then hidden, that is
    a fresh worker per problem; all public calls first, then all hidden ones, two. A problem whose
    public calls ended its worker (a limit) runs no hidden call, as one run of its calls would not.
    """
    planned = [(problem, *plan_problem(assignment, problem, expectations, mode)) for problem in assignment.problems]
    outcomes: dict[str, dict[str, CallOutcome]] = {problem.id: {} for problem, _, _ in planned}
    printed: dict[str, list[str]] = {problem.id: [] for problem, _, _ in planned}
    for hidden in (False, True):
        for problem, _, calls in planned:
            part = [call for call in calls if call.hidden is hidden]
            if not part:
                continue
            stopped = next((o for o in outcomes[problem.id].values() if o.status in LIMIT_STATUSES), None)
            if stopped is not None:
                for call in part:
                    outcomes[problem.id][call.key] = CallOutcome(key=call.key, status="skipped",
                                                                 message="not run: an earlier call of this problem hit a limit")
                continue
            ran, output = session.run(part, assignment.limits_of(problem))
            outcomes[problem.id].update(ran)
            if output:
                printed[problem.id].append(output)
    results = tuple(judge_problem(problem, contexts, calls, outcomes[problem.id], "".join(printed[problem.id]),
                                  expectations, mode) for problem, contexts, calls in planned)
    return with_feeders(assignment, results)


def with_feeders(assignment: Assignment, results: tuple[ProblemResult, ...]) -> tuple[ProblemResult, ...]:
    """Each failing scenario problem whose steps run another graded function that loses points in
    its own problem says so in its first failing check: a backward fed a wrong forward's cache
    fails (or crashes) where the mistake is not, and the student should fix the forward first."""
    by_function = {problem.function_name: (problem, result) for problem, result in zip(assignment.problems, results)}
    noted = []
    for problem, result in zip(assignment.problems, results):
        failing = [index for index, check in enumerate(result.checks) if check.counted
                   and check.outcome is not Outcome.PASSED]
        feeders = [(name, where, by_function[name][0].id) for name, where in
                   (problem.steps.global_names().items() if failing and problem.steps is not None else ())
                   if name != problem.function_name and name in by_function
                   and not by_function[name][1].passed and by_function[name][1].max_score > 0]
        if not feeders:
            noted.append(result)
            continue
        note = "; ".join(f"{where} runs your {name}, which loses points in problem {feeder}"
                         for name, where, feeder in feeders)
        checks = list(result.checks)
        first = checks[failing[0]]
        checks[failing[0]] = dataclasses.replace(first, message=f"{first.message} (note: {note}: what it returns "
                                                                  "may be why this fails; fix it first)")
        noted.append(dataclasses.replace(result, checks=tuple(checks)))
    return tuple(noted)


def grade_submission(
    assignment: Assignment,
    submission: Path,
    *,
    expectations: Any,
    session_factory: SessionFactory,
    mode: str = "grade",
    submission_id: str | None = None,
    notes: tuple[str, ...] = (),
) -> GradeReport:
    """Grade every problem of one submission folder; never raises for anything the student did."""
    start = time.monotonic()
    # A safety net in wall-clock time: the calls' own limits count CPU time (grader.calls.wall_clock_net).
    session = session_factory(submission, start + wall_clock_net(assignment.limits.submission_timeout))
    try:
        problems = _grade_all(assignment, session, expectations, mode)
        notes = notes + session.notes()
    finally:
        session.close()
    return GradeReport(
        submission=submission_id or submission.name,
        assignment=assignment.assignment,
        problems=problems,
        execution_time=round(time.monotonic() - start, 3),
        mode=mode,
        notes=notes,
    )
