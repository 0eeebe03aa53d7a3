"""The spec-strength report of ``grader lint``: which realistic mistakes the cases cannot see.

For every problem, each mutant of the reference (``grader.grading.mutants``: one real
deep-learning mistake made in the problem's function, or in its class's methods, and in the
private helpers they call) is graded in-process with the problem's own checks and cases, like the
declared mistakes in ``grader.grading.selftest``. A mutant that still scores full points survives.
Before one is reported it is run beside the reference on probes (``grader.grading.probes``): a
mutant that agrees with the reference on every probe the reference accepts is equivalent
(``-(a - b)**2``) and is not reported; otherwise the report says where it differs, which is the
case to add. A survivor the instructor accepts is declared in the spec (``survivors``, with a
reason); a declared one the cases kill, or an id that is no mutant, fails the report.

Two more kinds of blind spot are reported as warnings: an integer hyper-parameter whose value 0
or 1 no case takes although the reference accepts it and answers differently there (``pad = 0``),
and code calling ``exp``, ``tanh`` or a softmax whose cases never go above magnitude 709, where a
naive ``exp`` overflows.

A mutant's grading runs under a wall-clock alarm and counts as killed when it fires (as it would
for a student, whose worker is stopped at the call's limit).
"""

from __future__ import annotations

import ast
import contextlib
import io
import math
import os
import time
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.cases import case_args
from grader.errors import GraderError
from grader.grading.expectations import ReferenceExpectations
from grader.grading.mutants import Mutant, helpers_of, mutants_of, parse_reference
from grader.grading.probes import Probing, difference, float_array, int_paths, path_text, peak, timed
from grader.grading.runner import grade_problem
from grader.grading.selftest import Finding, SessionFor
from grader.results import ProblemResult
from grader.spec import AccuracyCheck, Assignment, Problem

MIN_TIME_LIMIT = 5.0
"""Seconds a mutant's grading may take at least; more when the reference's own grading is slow."""
OVERFLOWING = frozenset({"exp", "tanh", "softmax", "log_softmax", "sigmoid", "expit", "logsumexp", "cosh", "sinh",
                         "_sigmoid"})
"""Calls whose naive forms overflow at large magnitude."""


@dataclass(frozen=True, kw_only=True)
class Verdict:
    mutant: Mutant
    status: str
    """``killed``, ``timed out`` (killed too), ``survives`` or ``equivalent``."""
    differs: str = ""
    """For a survivor: the first probe on which it differs from the reference, and how."""


def _grade(assignment: Assignment, problem: Problem, module: types.ModuleType, expectations: ReferenceExpectations,
           session_for: SessionFor) -> ProblemResult:
    session = session_for({assignment.module_of(problem): module}, None)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return grade_problem(assignment, problem, session, expectations, "grade")
    finally:
        session.close()


def judge(assignment: Assignment, problem: Problem, mutants: list[Mutant], expectations: ReferenceExpectations,
          session_for: SessionFor, reference: types.ModuleType, probing: Probing, time_limit: float) -> list[Verdict]:
    """Grade each mutant with the problem's checks; tell the survivors from the equivalent ones."""
    filename = str(assignment.reference_path)
    verdicts = []
    for mutant in mutants:
        try:
            module = mutant.module(reference, filename)
        except Exception:  # noqa: BLE001 - a mutant that cannot even load is killed at once
            verdicts.append(Verdict(mutant=mutant, status="killed"))
            continue
        try:
            result, late = timed(time_limit, lambda: _grade(assignment, problem, module, expectations, session_for))
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


def _blind_spots(problem: Problem, tree: ast.Module, targets: set[str], probing: Probing,
                 verdicts: list[Verdict]) -> list[Finding]:
    """Warnings: boundary values of integer hyper-parameters no case takes, and magnitudes where a
    naive exp overflows that no case reaches."""
    findings = []
    taken: dict[tuple[str, ...], set[int]] = {}
    for case in problem.cases:
        for path, value in int_paths(problem, dict(zip(case.args, case_args(case)))):
            taken.setdefault(path, set()).add(value)
    base = {probe.case: output for probe, output in probing.expected if not probe.change}
    for path, values in taken.items():
        for boundary in (0, 1):
            if boundary in values:
                continue
            # Accepted by the reference, and it matters: the output is not the same as the case's.
            labels = [probe.label for probe, output in probing.expected
                      if probe.change == f"{path_text(path)} = {boundary}" and probe.case in base
                      and difference(base[probe.case][0], output[0])]
            if labels:
                findings.append(Finding(problem.id, f"no case takes {path_text(path)} = {boundary}", True,
                                        "the reference accepts it and answers differently there "
                                        f"({labels[0]}); a mistake only there goes unseen", warning=True))
    overflowing = sorted(OVERFLOWING & _calls(tree, targets))
    # Only where the reference itself is finite at a large magnitude (there it is meant to be),
    # and unless a naive formula's mutant is killed: then some case does reach where it overflows
    # (through a product, as attention's scores), whatever the magnitude of the inputs.
    # Nor when the instructor declared such a survivor with a reason: the blind spot is known.
    declared = {survivor.mutant for survivor in problem.survivors}
    reached = any(verdict.mutant.operator.family.startswith("overflow")
                  and (verdict.status == "killed" or verdict.mutant.id in declared) for verdict in verdicts)
    if overflowing and not reached and any("scaled to magnitude" in probe.change for probe, _ in probing.expected):
        arrays = [array for case in problem.cases for array in map(float_array, case_args(case)) if array is not None]
        largest = max((peak(array) for array in arrays), default=0.0)
        # exp overflows in the inputs' own precision: past 709.78 in float64, 88.72 in float32.
        widest = max((array.dtype for array in arrays), key=lambda dtype: dtype.itemsize, default=np.dtype(np.float64))
        limit = math.log(np.finfo(widest).max)
        if largest < limit:
            findings.append(Finding(
                problem.id, f"no case has an input above magnitude {limit:.0f}", True,
                f"the code calls {', '.join(overflowing)}, whose naive forms overflow there in {widest}; the largest "
                f"input of any case is {largest:.3g}", warning=True))
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
    start = time.monotonic()
    try:
        graded = _grade(assignment, problem, reference, expectations, session_for)  # also computes the expectations
    except GraderError:
        return []  # the reference cannot run a case: the self-test says so, once
    if graded.score < problem.points - 1e-9:
        # Every mutant would lose points too, and the report would claim them all killed; the
        # self-test already fails the reference, once.
        return []
    time_limit = max(MIN_TIME_LIMIT, 20 * (time.monotonic() - start))
    probing = Probing(problem, reference, time_limit)
    verdicts = judge(assignment, problem, mutants, expectations, session_for, reference, probing, time_limit)
    where = _where(assignment.reference_path)
    lines = assignment.reference_path.read_text(encoding="utf-8").splitlines()
    declared = {survivor.mutant: survivor.reason for survivor in problem.survivors}
    by_id = {verdict.mutant.id: verdict for verdict in verdicts}
    findings = []
    surviving = [verdict for verdict in verdicts if verdict.status == "survives"]
    killed = sum(verdict.status in ("killed", "timed out") for verdict in verdicts)
    equivalent = sum(verdict.status == "equivalent" for verdict in verdicts)
    undeclared = [verdict for verdict in surviving if verdict.mutant.id not in declared]
    if not mutants:
        findings.append(Finding(problem.id, "no mutation operator applies to the reference", True))
    else:
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
    return findings + _blind_spots(problem, tree, targets, probing, verdicts)


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
