"""The spec-strength report of ``grader lint``: which realistic mistakes the cases cannot see.

For every problem, each mutant of the reference (``grader.grading.mutants``: one real
deep-learning mistake made in the problem's function, or in its class's methods, and in the
private helpers they call) is graded in-process with the problem's own checks and cases, like the
declared mistakes in ``grader.grading.selftest``. A mutant that still scores full points survives.
Before one is reported it is run beside the reference on probes (the cases; the cases with each
integer hyper-parameter at 0 and at 1; with each float input scaled to magnitude 1e3; with other
random values): a mutant that agrees with the reference on every probe the reference accepts is
equivalent (``-(a - b)**2``) and is not reported; otherwise the report says where it differs,
which is the case to add. A survivor the instructor accepts is declared in the spec
(``survivors``, with a reason); a declared one the cases kill is reported as stale.

Two more kinds of blind spot are reported as warnings: an integer hyper-parameter whose value 0
or 1 no case takes although the reference accepts it (``pad = 0``), and code calling ``exp``,
``tanh``, ``log`` or a softmax whose cases never go above magnitude 709, where a naive ``exp``
overflows.

Mutants are the instructor's code, so they run in this process; a mutant can still loop (an
off-by-one range) or take long, so each runs under a wall-clock alarm and counts as killed when
it fires (as it would for a student, whose worker is stopped at the call's limit).
"""

from __future__ import annotations

import ast
import contextlib
import copy
import dataclasses
import io
import math
import os
import signal
import threading
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from grader import interpreter
from grader.cases import case_args, copy_args
from grader.compare import tolerances
from grader.grading.expectations import ReferenceExpectations
from grader.grading.mutants import Mutant, helpers_of, mutants_of, parse_reference
from grader.grading.runner import grade_problem
from grader.grading.selftest import Finding, SessionFor
from grader.results import ProblemResult
from grader.spec import AccuracyCheck, Assignment, GradientCheck, Problem, ValueCheck
from grader.values import live, to_plain
from grader.wire import TensorArg

MAGNITUDES = (1e3, 1e4)
"""Float inputs are scaled to these magnitudes in probes: past where exp overflows (~709.78), and
where a softmax shifted by the wrong maximum underflows a whole row."""
EXP_OVERFLOW = math.log(np.finfo(np.float64).max)
MIN_TIME_LIMIT = 5.0
"""Seconds a mutant's grading may take at least; more when the reference's own grading is slow."""
OVERFLOWING = frozenset({"exp", "tanh", "softmax", "log_softmax", "sigmoid", "expit", "logsumexp", "cosh", "sinh",
                         "_sigmoid"})
"""Calls whose naive forms overflow at large magnitude."""


@dataclass(frozen=True, kw_only=True)
class Probe:
    """Arguments a mutant and the reference are both run on, to tell an equivalent mutant."""

    case: str
    """``case 'pad1'``."""
    change: str
    """What is changed from the case (``conv_param["pad"] = 0``), or "" for the case itself."""
    args: dict[str, Any]
    twice: bool = False
    """Run every step of the scenario twice in a row (call the function twice): state kept across
    calls (a gradient accumulated, never reset) shows only then."""

    @property
    def label(self) -> str:
        return f"{self.case} with {self.change}" if self.change else self.case


@dataclass(frozen=True, kw_only=True)
class Verdict:
    mutant: Mutant
    status: str
    """``killed``, ``timed out`` (killed too), ``survives`` or ``equivalent``."""
    differs: str = ""
    """For a survivor: the first probe on which it differs from the reference, and how."""


class _Timeout(BaseException):
    """The alarm of a mutant's time limit (a BaseException: code under test catching Exception
    does not swallow it)."""


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """Raise ``_Timeout`` in this thread after ``seconds``, and again every 50 ms until the block
    ends (in case the code under test catches the first). Only in the main thread; elsewhere no limit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def fire(signum: int, frame: Any) -> None:
        raise _Timeout()

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _timed(seconds: float, work: Callable[[], Any]) -> tuple[Any, bool]:
    """``(work(), False)``, or ``(None, True)`` when it ran out of time."""
    try:
        with _alarm(seconds):
            return work(), False
    except _Timeout:
        return None, True


# --------------------------------------------------------------------------- probes


def _int_paths(args: dict[str, Any]) -> Iterator[tuple[tuple[str, ...], int]]:
    """Integer hyper-parameters of a case: top-level ints and ints in dict arguments (not seeds)."""
    for name, value in args.items():
        if type(value) is int and "seed" not in name:
            yield (name,), value
        elif isinstance(value, dict):
            for key, item in value.items():
                if type(item) is int and "seed" not in str(key):
                    yield (name, key), item


def _path_text(path: tuple[str, ...]) -> str:
    return path[0] + "".join(f'["{key}"]' for key in path[1:])


def _with(args: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    changed = dict(args)
    if len(path) == 1:
        changed[path[0]] = value
    else:
        changed[path[0]] = {**changed[path[0]], path[1]: value}
    return changed


def _float_array(value: Any) -> np.ndarray | None:
    """A float input (an array, a tensor's array, or a float) as an array; None for anything else."""
    array = value.array if isinstance(value, TensorArg) else np.asarray(value) if type(value) is float else value
    if isinstance(array, np.ndarray) and array.dtype.kind == "f" and array.size:
        return array
    return None


def _rewrap(original: Any, array: np.ndarray) -> Any:
    if isinstance(original, TensorArg):
        return TensorArg(array.astype(original.array.dtype), original.requires_grad)
    return float(array) if type(original) is float else array.astype(original.dtype)


def _peak(array: np.ndarray) -> float:
    return float(np.max(np.abs(array[np.isfinite(array)]), initial=0.0))


def probes_of(problem: Problem) -> list[Probe]:
    """The cases, then each case with every step run twice, with one integer hyper-parameter at 0
    or 1, and with one float input scaled to magnitudes 1e3 and 1e4.

    Inputs are changed only along these lines: redrawing them at random would break what the
    problem assumes of them (a symmetric affinity matrix, probabilities), and report mutants that
    differ only on inputs no student is asked to handle."""
    probes = []
    for case in problem.cases:
        base = dict(zip(case.args, case_args(case)))
        name = f"case {case.name!r}"
        probes.append(Probe(case=name, change="", args=base))
        probes.append(Probe(case=name, change="every step run twice" if problem.steps else "the function called twice",
                            args=base, twice=True))
        for path, value in _int_paths(base):
            for boundary in (0, 1):
                if boundary != value:
                    probes.append(Probe(case=name, change=f"{_path_text(path)} = {boundary}",
                                        args=_with(base, path, boundary)))
        for magnitude in MAGNITUDES:
            for arg, value in base.items():
                array = _float_array(value)
                peak = 0.0 if array is None else _peak(array)
                if 0 < peak < magnitude:
                    probes.append(Probe(case=name, change=f"{arg} scaled to magnitude {magnitude:.0e}",
                                        args=_with(base, (arg,), _rewrap(value, array * (magnitude / peak)))))
    return probes


def _fresh(args: dict[str, Any]) -> dict[str, Any]:
    return dict(zip(args, copy_args(tuple(args.values()))))


def _lookup(module: types.ModuleType) -> interpreter.Lookup:
    def lookup(name: str) -> Any:
        if not hasattr(module, name):
            raise interpreter.NameNotDefined(name)
        return getattr(module, name)

    return lookup


def _run(problem: Problem, module: types.ModuleType, args: dict[str, Any], twice: bool = False) -> Any:
    """What the module returns on the arguments, and the arguments afterwards (an input written
    in place is a difference too)."""
    lookup = _lookup(module)
    args = _fresh(args)
    with np.errstate(all="ignore"), contextlib.redirect_stderr(io.StringIO()):
        if problem.steps is not None:
            plan = problem.steps.plan(problem.seed)
            if twice:
                plan["steps"] = [step for step in plan["steps"] for _ in range(2)]
            value = interpreter.run(plan, lookup, args)
        else:
            for _ in range(2 if twice else 1):
                interpreter.seed_everything(problem.seed)
                value = lookup(problem.function_name)(*live(list(args.values())))
    after = {name: item.array if isinstance(item, TensorArg) else item for name, item in args.items()}
    return to_plain(value), after


def _upstream_fitted(problem: Problem, reference: types.ModuleType, args: dict[str, Any]) -> dict[str, Any] | None:
    """The arguments with each gradient check's upstream gradient (``dout``) redrawn in the shape
    the reference's forward now has (``pad = 0`` shrinks ``out``), or None when nothing changed."""
    if problem.steps is None:
        return None
    fitted, changed = dict(args), False
    for check in problem.checks:
        if not isinstance(check, GradientCheck) or check.upstream is None or check.of is None \
                or _float_array(args.get(check.upstream)) is None:
            continue
        upstream, of = check.upstream, problem.gradient_of(check)
        assert of is not None
        plan = of.plan(problem.seed)
        for stop in range(1, len(plan["steps"]) + 1):
            try:
                with np.errstate(all="ignore"):
                    value = to_plain(interpreter.run({**plan, "steps": plan["steps"][:stop], "reads": plan["reads"][-1:]},
                                                     _lookup(reference), _fresh(args))[0])
            except Exception:  # noqa: BLE001 - the forward has not run yet at this step
                continue
            shape = np.shape(value)
            if shape != np.shape(_float_array(args[upstream])):
                draw = np.random.default_rng(21).standard_normal(shape)
                fitted[upstream], changed = _rewrap(args[upstream], draw), True
            break
    return fitted if changed else None


def _difference(expected: Any, obtained: Any, rtol: float | None = None, atol: float | None = None) -> str:
    """How ``obtained`` differs from ``expected`` beyond the tolerance (the grader's default by
    dtype when None), or "" when it does not, in a few words."""
    if isinstance(expected, (tuple, list)):
        if not isinstance(obtained, (tuple, list)) or len(obtained) != len(expected):
            return "returns a different structure"
        return next((d for d in (_difference(e, o, rtol, atol) for e, o in zip(expected, obtained)) if d), "")
    if isinstance(expected, dict):
        if not isinstance(obtained, dict) or set(obtained) != set(expected):
            return "returns different keys"
        return next((d for d in (_difference(expected[k], obtained[k], rtol, atol) for k in expected) if d), "")
    if isinstance(expected, (np.ndarray, np.number, int, float, bool)) and not isinstance(expected, str):
        a, b = np.asarray(expected), np.asarray(obtained) if not isinstance(obtained, str) else None
        if b is None or b.dtype == object or a.dtype == object:
            return "" if expected is obtained else "returns a different kind of value"
        if a.shape != b.shape:
            return f"returns shape {b.shape} where the reference's is {a.shape}"
        if a.dtype.kind in "biufc" and b.dtype.kind in "biufc":
            rtol, atol = tolerances(a, rtol, atol)
            if np.allclose(b, a, rtol=rtol, atol=atol, equal_nan=True):
                return ""
            if np.all(np.isfinite(a)) and not np.all(np.isfinite(b)):
                return "returns NaN or inf where the reference is finite"
            return "returns other values"
        return "" if np.array_equal(a, b) else "returns other values"
    try:
        return "" if bool(expected == obtained) else "returns other values"
    except Exception:  # noqa: BLE001 - objects without a usable ==
        return ""


def _finite(value: Any) -> bool:
    if isinstance(value, (tuple, list)):
        return all(map(_finite, value))
    if isinstance(value, dict):
        return all(map(_finite, value.values()))
    if isinstance(value, (np.ndarray, float, np.floating)):
        array = np.asarray(value)
        return array.dtype.kind not in "fc" or bool(np.all(np.isfinite(array)))
    return True


class _Probing:
    """The reference's outputs on a problem's probes, computed once, and a mutant compared on them."""

    def __init__(self, problem: Problem, reference: types.ModuleType, time_limit: float) -> None:
        self.problem = problem
        self.time_limit = time_limit
        # The tightest tolerance the problem's value checks use: a mutant within it cannot be told apart.
        values = [check for check in problem.checks if isinstance(check, ValueCheck)]
        self.rtol = min((check.rtol for check in values if check.rtol is not None), default=None)
        self.atol = min((check.atol for check in values if check.atol is not None), default=None)
        self.expected: list[tuple[Probe, Any]] = []
        for probe in probes_of(problem):
            try:
                output, _ = _timed(time_limit, lambda: _run(problem, reference, probe.args, probe.twice))
            except Exception:  # noqa: BLE001 - the reference does not accept this probe
                fitted = _upstream_fitted(problem, reference, probe.args) if probe.change else None
                if fitted is None:
                    continue
                probe = dataclasses.replace(probe, args=fitted)
                try:
                    output, _ = _timed(time_limit, lambda: _run(problem, reference, probe.args, probe.twice))
                except Exception:  # noqa: BLE001 - nor with the upstream gradient refitted
                    continue
            # A changed case counts only where the reference is finite: its answer there is known right.
            if output is not None and (not probe.change or _finite(output)):
                self.expected.append((probe, output))

    def differs(self, module: types.ModuleType) -> str:
        """Where and how the module differs from the reference, or "" when it never does."""
        for probe, expected in self.expected:
            try:
                obtained, late = _timed(self.time_limit, lambda: _run(self.problem, module, probe.args, probe.twice))
            except Exception as error:  # noqa: BLE001 - a mutant may raise
                return f"raises {type(error).__name__} on {probe.label}"
            if late:
                return f"runs out of time on {probe.label}"
            difference = _difference(expected[0], obtained[0], self.rtol, self.atol)
            if difference:
                return f"{difference} on {probe.label}"
            written = [name for name in expected[1]
                       if _difference(expected[1][name], obtained[1][name], self.rtol, self.atol)]
            if written:
                return f"writes into its argument {written[0]} on {probe.label}"
        return ""


# --------------------------------------------------------------------------- the report


def _grade(assignment: Assignment, problem: Problem, module: types.ModuleType, expectations: ReferenceExpectations,
           session_for: SessionFor) -> ProblemResult:
    session = session_for({assignment.module_of(problem): module}, None)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return grade_problem(assignment, problem, session, expectations, "grade")
    finally:
        session.close()


def judge(assignment: Assignment, problem: Problem, mutants: list[Mutant], expectations: ReferenceExpectations,
          session_for: SessionFor, reference: types.ModuleType, probing: _Probing) -> list[Verdict]:
    """Grade each mutant with the problem's checks; tell the survivors from the equivalent ones."""
    filename = str(assignment.reference_path)
    start = time.monotonic()
    _grade(assignment, problem, reference, expectations, session_for)  # also computes the expectations
    time_limit = max(MIN_TIME_LIMIT, 20 * (time.monotonic() - start))
    verdicts = []
    for mutant in mutants:
        try:
            module = mutant.module(reference, filename)
        except Exception:  # noqa: BLE001 - a mutant that cannot even load is killed at once
            verdicts.append(Verdict(mutant=mutant, status="killed"))
            continue
        try:
            result, late = _timed(time_limit, lambda: _grade(assignment, problem, module, expectations, session_for))
        except Exception:  # noqa: BLE001 - a check that cannot judge the mutant's answer gives it nothing
            verdicts.append(Verdict(mutant=mutant, status="killed"))
            continue
        if late:
            verdicts.append(Verdict(mutant=mutant, status="timed out"))
        elif result.score < problem.points - 1e-9:
            verdicts.append(Verdict(mutant=mutant, status="killed"))
        else:
            differs = probing.differs(module)
            verdicts.append(Verdict(mutant=mutant, status="survives" if differs else "equivalent", differs=differs))
    return verdicts


def _where(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def _survivor_detail(mutant: Mutant, lines: list[str], where: str, differs: str) -> str:
    text = lines[mutant.line - 1].strip() if 0 < mutant.line <= len(lines) else mutant.original
    return (f"{where}:{mutant.line} `{text}`: `{mutant.original}` -> `{mutant.mutated}` ({mutant.operator.family}); "
            f"{differs}")


def _calls(tree: ast.Module, names: set[str]) -> set[str]:
    called = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names:
            for call in ast.walk(node):
                if isinstance(call, ast.Call):
                    func = call.func
                    called.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return called


def _blind_spots(problem: Problem, tree: ast.Module, targets: set[str], probing: _Probing) -> list[Finding]:
    """Warnings: boundary values of integer hyper-parameters no case takes, and magnitudes where a
    naive exp overflows that no case reaches."""
    findings = []
    taken: dict[tuple[str, ...], set[int]] = {}
    for case in problem.cases:
        for path, value in _int_paths(dict(zip(case.args, case_args(case)))):
            taken.setdefault(path, set()).add(value)
    base = {probe.case: output for probe, output in probing.expected if not probe.change}
    for path, values in taken.items():
        for boundary in (0, 1):
            if boundary in values:
                continue
            # Accepted by the reference, and it matters: the output is not the same as the case's.
            labels = [probe.label for probe, output in probing.expected
                      if probe.change == f"{_path_text(path)} = {boundary}" and probe.case in base
                      and _difference(base[probe.case][0], output[0])]
            if labels:
                findings.append(Finding(problem.id, f"no case takes {_path_text(path)} = {boundary}", True,
                                        "the reference accepts it and answers differently there "
                                        f"({labels[0]}); a mistake only there goes unseen", warning=True))
    overflowing = sorted(OVERFLOWING & _calls(tree, targets))
    # Only where the reference itself is finite at a large magnitude: there it is meant to be.
    if overflowing and any("scaled to magnitude" in probe.change for probe, _ in probing.expected):
        peak = 0.0
        for case in problem.cases:
            for value in case_args(case):
                array = _float_array(value)
                if array is not None:
                    peak = max(peak, _peak(array))
        if peak < EXP_OVERFLOW:
            findings.append(Finding(
                problem.id, f"no case has an input above magnitude {EXP_OVERFLOW:.0f}", True,
                f"the code calls {', '.join(overflowing)}, whose naive forms overflow there; the largest input "
                f"of any case is {peak:.3g}", warning=True))
    return findings


def check_strength(assignment: Assignment, problem: Problem, expectations: ReferenceExpectations,
                   session_for: SessionFor, tree: ast.Module) -> list[Finding]:
    """The strength report of one problem: its surviving mutants, stale declarations, blind spots."""
    reference = expectations.reference_module
    if reference is None or assignment.reference_path is None \
            or any(isinstance(check, AccuracyCheck) for check in problem.checks):
        return []
    others = {other.function_name for other in assignment.problems} - {problem.function_name}
    targets = helpers_of(tree, {problem.function_name}, others)
    mutants = mutants_of(tree, targets)
    probing = _Probing(problem, reference, MIN_TIME_LIMIT * 4)
    verdicts = judge(assignment, problem, mutants, expectations, session_for, reference, probing)
    where = _where(assignment.reference_path)
    lines = assignment.reference_path.read_text(encoding="utf-8").splitlines()
    declared = {survivor.mutant: survivor.reason for survivor in problem.survivors}
    by_id = {verdict.mutant.id: verdict for verdict in verdicts}
    findings = []
    surviving = [verdict for verdict in verdicts if verdict.status == "survives"]
    killed = sum(verdict.status in ("killed", "timed out") for verdict in verdicts)
    equivalent = sum(verdict.status == "equivalent" for verdict in verdicts)
    undeclared = [verdict for verdict in surviving if verdict.mutant.id not in declared]
    findings.append(Finding(problem.id, "the cases kill every realistic mutant of the reference", not undeclared,
                            f"{len(mutants)} mutants: {killed} killed, {len(surviving)} survive"
                            f"{f' ({len(surviving) - len(undeclared)} declared)' if surviving else ''}, "
                            f"{equivalent} equivalent"))
    for verdict in surviving:
        detail = _survivor_detail(verdict.mutant, lines, where, verdict.differs)
        if verdict.mutant.id in declared:
            findings.append(Finding(problem.id, f"mutant {verdict.mutant.id} survives, declared", True,
                                    f"{declared[verdict.mutant.id]} [{detail}]"))
        else:
            findings.append(Finding(problem.id, f"mutant {verdict.mutant.id} survives", False, detail))
    for index, (mutant_id, _reason) in enumerate(declared.items()):
        field = f"{assignment.source}: problem {problem.id}, field survivors.{index}.mutant"
        verdict = by_id.get(mutant_id)
        if verdict is None:
            findings.append(Finding(problem.id, f"declared survivor {mutant_id} is a mutant of the reference", False,
                                    f"{field}: no such mutant (the reference changed, or a typo)"))
        elif verdict.status != "survives":
            findings.append(Finding(problem.id, f"declared survivor {mutant_id} still survives", False,
                                    f"{field}: it is {'killed' if verdict.status != 'equivalent' else 'equivalent'} "
                                    "now; remove the declaration"))
    return findings + _blind_spots(problem, tree, targets, probing)


def run_strength(assignment: Assignment, *, session_for: SessionFor, expectations: ReferenceExpectations | None = None,
                 data_dir: Path | None = None, problems: list[str] | None = None) -> list[Finding]:
    """The strength report of every problem (or of those named)."""
    if assignment.reference_path is None:
        return []
    expectations = expectations or ReferenceExpectations(assignment, data_dir=data_dir)
    tree = parse_reference(assignment.reference_path)
    findings: list[Finding] = []
    for problem in assignment.problems:
        if problems is None or problem.id in problems:
            findings += check_strength(assignment, problem, expectations, session_for, tree)
    return findings
