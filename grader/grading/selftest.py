"""The spec self-test behind ``grader lint``: a problem that cannot tell right from wrong is broken.

For every problem: first, the names its scenario uses resolve and the reference runs every case
(``grader.grading.preflight``; if not, that is the problem's only finding, since everything after
would fail for the same reason); then the reference passes all of its own checks with full marks; at least two
wrong variants (the declared mistakes) are declared; each of them loses points and is diagnosed
as itself; and degenerate answers (zeros, ones, the input echoed, random values, each of the shape
of the reference's output) score nothing at all. The reference and the mistakes are the
instructor's trusted code, so they run in-process (the caller passes ``session_for``, an
in-process session), through the same checks as any submission.
"""

from __future__ import annotations

import dataclasses
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from grader.calls import Call, CallOutcome, Session
from grader.errors import SpecError
from grader.grading.expectations import ReferenceExpectations
from grader.grading.preflight import verify_problem
from grader.grading.runner import grade_problem
from grader.results import Outcome, ProblemResult
from grader.spec import AccuracyCheck, Assignment, Limits, Problem

MIN_MISTAKES = 2

SessionFor = Callable[[dict[str, types.ModuleType], Path | None], Session]
"""Makes a session running the given modules (by module name) in-process, with a working folder."""


@dataclass(frozen=True)
class Finding:
    problem: str
    what: str
    ok: bool
    detail: str = ""
    warning: bool = False
    """A blind spot worth the instructor's attention that does not fail the self-test."""

    def line(self) -> str:
        mark = "FAIL" if not self.ok else "warn" if self.warning else "ok  "
        return f"[{mark}] {self.problem}: {self.what}" + (f" - {self.detail}" if self.detail else "")


def _module_with(reference: types.ModuleType, name: str, function: object) -> types.ModuleType:
    """The reference module with one function replaced: a 'submission' making one mistake."""
    module = types.ModuleType(reference.__name__)
    module.__dict__.update({k: v for k, v in vars(reference).items() if not k.startswith("__")})
    setattr(module, name, function)
    return module


Degenerate = Callable[[Any, Call], Any]
"""A degenerate answer: from the reference's output of a call (and the call), what it returns."""


def _fill(value: Any, make: Callable[[np.ndarray], np.ndarray]) -> Any:
    """``value`` with every array and number replaced by ``make`` of its shape and dtype."""
    if isinstance(value, tuple):
        return tuple(_fill(item, make) for item in value)
    if isinstance(value, list):
        return [_fill(item, make) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, make) for key, item in value.items()}
    if isinstance(value, (bool, np.bool_)):
        return value
    if isinstance(value, (int, float, np.number, np.ndarray)):
        array = np.asarray(value)
        filled = make(array).astype(array.dtype if array.dtype.kind in "fc" else np.float64)
        return filled if isinstance(value, np.ndarray) else filled.item()
    return value


def _echo(value: Any, call: Call) -> Any:
    """The call's first argument handed back (a scenario's first argument, for each read)."""
    args = call.args[0] if call.op == "scenario" else call.args
    first = next(iter(args.values())) if isinstance(args, dict) else (args[0] if args else None)
    if call.op == "scenario" and isinstance(value, tuple):
        return tuple(first for _ in value)
    return first


def _random(array: np.ndarray) -> np.ndarray:
    return np.random.default_rng(12).standard_normal(array.shape)


DEGENERATES: dict[str, Degenerate] = {
    "zeros": lambda value, call: _fill(value, np.zeros_like),
    "ones": lambda value, call: _fill(value, np.ones_like),
    "the input echoed": _echo,
    "random values": lambda value, call: _fill(value, _random),
}
"""Answers that know nothing of the problem but the shape of its output; each must score 0."""


class DegenerateSession:
    """Runs the reference, then hands back a degenerate answer in place of each returned value:
    zeros of the right shape, the input... For a scenario, the output is the tuple of its reads."""

    def __init__(self, inner: Session, degenerate: Degenerate) -> None:
        self.inner = inner
        self.degenerate = degenerate

    def run(self, calls: list[Call], limits: Limits) -> tuple[dict[str, CallOutcome], str]:
        outcomes, printed = self.inner.run(calls, limits)
        by_key = {call.key: call for call in calls}
        # A degenerate answer returns something whatever it is asked, even where the reference raises
        # (a case that expects an exception): it never earns such a case by raising.
        return {key: dataclasses.replace(outcome, value=self._answer(outcome.value, by_key[key]), warnings=(),
                                         modified_args=()) if outcome.ok
                else CallOutcome(key=key, status="ok", value=None) if outcome.status == "error" else outcome
                for key, outcome in outcomes.items()}, printed

    def _answer(self, value: Any, call: Call) -> Any:
        numgrad = call.options.get("numgrad")
        if numgrad is None:
            return self.degenerate(value, call)
        # The numerical gradient of the degenerate answer's own forward (a gradient check `through:
        # student`): an answer that does not depend on its input has a zero gradient, and one that
        # hands its first input back has the upstream gradient with respect to that input.
        args = call.args[0] if call.op == "scenario" else {}
        first = next(iter(args), None)
        echoed = self.degenerate is DEGENERATES["the input echoed"]
        upstream = args.get(numgrad.get("upstream"), 1.0)
        return {name: (np.broadcast_to(np.asarray(upstream, dtype=np.float64), np.shape(gradient)).copy()
                       if echoed and name == first else np.zeros_like(gradient))
                for name, gradient in value.items()}

    def notes(self) -> tuple[str, ...]:
        return self.inner.notes()

    def close(self) -> None:
        self.inner.close()


def check_degenerates(
    assignment: Assignment, problem: Problem, expectations: ReferenceExpectations, session_for: SessionFor
) -> Finding:
    """Zeros, ones, the input echoed and random values of the right shape all score 0."""
    module_name = assignment.module_of(problem)
    reference = expectations.reference_module
    scored = []
    for label, degenerate in DEGENERATES.items():
        session = DegenerateSession(session_for({module_name: reference}, None), degenerate)  # type: ignore[dict-item]
        result = grade_problem(assignment, problem, session, expectations, "grade")
        if result.score > 1e-9:
            earning = [check.name for check in result.checks if check.counted and check.score > 0]
            scored.append(f"{label} scores {result.score:.3g} (from {', '.join(earning)})")
    return Finding(problem.id, "degenerate answers (zeros, ones, the input echoed, random values) score 0",
                   not scored, "; ".join(scored))


def _undiagnosed_reason(result: ProblemResult) -> str:
    """Why a rejected variant may go unnamed, when the reason is the spec's: diagnosis compares the
    parts value and gradient checks read, and only other kinds of check reject it."""
    failing = [check for check in result.checks if check.counted and check.outcome is not Outcome.PASSED]
    if failing and not any(check.kind in ("value", "gradient") for check in failing):
        names = ", ".join(check.name for check in failing)
        return (f": only {names} reject{'s' * (len(failing) == 1)} it, and a mistake is named by the parts value "
                "and gradient checks compare; add a value check of the parts it changes")
    return ""


def check_problem(
    assignment: Assignment, problem: Problem, expectations: ReferenceExpectations, session_for: SessionFor
) -> list[Finding]:
    if any(isinstance(check, AccuracyCheck) for check in problem.checks):
        return check_model_problem(assignment, problem, expectations, session_for)
    module_name = assignment.module_of(problem)
    reference = expectations.reference_module
    assert reference is not None
    try:
        verify_problem(expectations, problem)
    except SpecError as error:
        # Everything else graded against this reference would fail for the same reason and only
        # bury it (mistakes "also diagnosed as" one another, degenerates "scoring").
        return [Finding(problem.id, "the scenario's names resolve, the mistakes take the problem's parameters "
                        "and the reference runs every case", False, str(error))]
    findings = []
    result = grade_problem(assignment, problem, session_for({module_name: reference}, None), expectations, "grade")
    findings.append(Finding(problem.id, "reference passes its own checks", result.passed,
                            "" if result.passed else result.failure))
    if len(problem.mistakes) < MIN_MISTAKES:
        waived = (problem.no_typical_mistake or "").strip()
        findings.append(Finding(problem.id, f"declares at least {MIN_MISTAKES} wrong variants", bool(waived),
                                f"waived: {waived}" if waived else f"only {len(problem.mistakes)} declared; declare "
                                "more, or say why there are none in `no_typical_mistake`"))
    for mistake in problem.mistakes:
        modules = {module_name: _module_with(reference, problem.replaced_by(mistake),
                                             expectations.mistake_function(problem, mistake))}
        result = grade_problem(assignment, problem, session_for(modules, None), expectations, "grade")
        rejected = result.score < problem.points - 1e-9
        diagnosed = any(d.mistake == mistake.id for d in result.diagnoses)
        others = [d.mistake for d in result.diagnoses if d.mistake != mistake.id]
        detail = []
        if not rejected:
            detail.append("passes every check")
        if not diagnosed:
            detail.append("is not diagnosed" + _undiagnosed_reason(result))
        if others:
            detail.append(f"is also diagnosed as {others}")
        findings.append(Finding(problem.id, f"mistake {mistake.id!r} is rejected and diagnosed",
                                rejected and diagnosed and not others, ", ".join(detail)))
        if diagnosed and not others and any(case.visibility == "public" for case in problem.cases):
            # What a student's self-check (public cases only) would tell someone making it.
            public = grade_problem(assignment, problem, session_for(modules, None), expectations, "check")
            also = [d.mistake for d in public.diagnoses if d.mistake != mistake.id]
            if also:
                findings.append(Finding(
                    problem.id, f"the public cases do not tell mistake {mistake.id!r} apart", True,
                    f"on the public cases alone it is also diagnosed as {also}, so a student's self-check "
                    "names both; a public case where they differ tells them apart", warning=True))
    findings.append(check_degenerates(assignment, problem, expectations, session_for))
    return findings


def check_model_problem(
    assignment: Assignment, problem: Problem, expectations: ReferenceExpectations, session_for: SessionFor
) -> list[Finding]:
    """A model problem: the reference model (module and weights beside the reference) meets its
    target, and two wrong variants of it, untrained weights and shifted labels, do not."""
    import tempfile

    import torch

    from grader.reference import load_module

    reference_dir = assignment.reference_path.parent if assignment.reference_path else Path(".")
    module_name = assignment.module_of(problem)
    path = reference_dir / f"{module_name}.py"
    if not path.is_file():
        return [Finding(problem.id, "reference model exists", False, f"{path} is missing")]
    module = load_module(path)

    def grade_with(candidate: types.ModuleType, root: Path) -> ProblemResult:
        return grade_problem(assignment, problem, session_for({module_name: candidate}, root),
                             expectations, "grade")

    result = grade_with(module, reference_dir)
    findings = [Finding(problem.id, "reference model meets the target", result.passed,
                        result.failure if not result.passed else result.checks[0].message)]

    def shifted_labels() -> torch.nn.Module:
        model = module.build_model()
        model.register_forward_hook(lambda _m, _i, logits: torch.roll(logits, 1, dims=1))
        return model

    with tempfile.TemporaryDirectory() as scratch:
        torch.manual_seed(0)
        weights = [check.weights for check in problem.checks if isinstance(check, AccuracyCheck)]
        for name in weights:
            torch.save(module.build_model().state_dict(), Path(scratch) / name)
        variants = {
            "untrained weights": (module, Path(scratch)),
            "labels shifted by one": (_module_with(module, "build_model", shifted_labels), reference_dir),
        }
        for label, (candidate, root) in variants.items():
            wrong = grade_with(candidate, root)
            findings.append(Finding(problem.id, f"wrong variant {label!r} loses points",
                                    wrong.score < problem.points - 1e-9, wrong.failure))
    return findings


def run_selftest(assignment: Assignment, *, session_for: SessionFor, data_dir: Path | None = None,
                 expectations: ReferenceExpectations | None = None) -> list[Finding]:
    """Self-test every problem, running the reference and its mistakes in ``session_for`` sessions."""
    expectations = expectations or ReferenceExpectations(assignment, data_dir=data_dir)
    findings: list[Finding] = []
    handout = assignment.resolve(assignment.handout).read_text(encoding="utf-8") if assignment.handout else None
    for problem in assignment.problems:
        findings += check_problem(assignment, problem, expectations, session_for)
        graded_name = not any(isinstance(check, AccuracyCheck) for check in problem.checks)  # a model's is its own
        if handout is not None and graded_name and problem.function_name not in handout:
            # Students learn the contract from it, and the kit ships it as it is (a skeleton's
            # handout still describing the skeleton's problems).
            findings.append(Finding(problem.id, f"the handout names {problem.function_name}", True,
                                    f"{assignment.handout} never mentions `{problem.function_name}`", warning=True))
    return findings
