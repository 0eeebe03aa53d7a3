"""The grading environment: which NumPy and torch graded a submission, and what that version removed.

A spec may pin the versions a course grades with (``environment: {numpy: "2.4.6", torch: "2.13.0"}``).
Every report states the versions that did the grading, measured in the grader's process (its
sandboxed workers fork from it or, in the portable worker, run the same interpreter, so they import
the same packages), and says so when they differ from the spec's. A student whose code calls an
API that NumPy version no longer has (``np.float``, ``np.product``, ``np.reshape(..., newshape=)``)
gets a note naming the version. The error message that note is built from comes from the worker:
untrusted text, matched with bounded patterns on its first characters, and only names of at most
40 word characters are taken from it.
"""

from __future__ import annotations

import dataclasses
import re
from importlib import metadata

from grader.results import GradeReport
from grader.spec import Assignment

PACKAGES = (("numpy", "NumPy"), ("torch", "torch"))
"""(distribution, how reports name it) of every package a spec's environment can pin."""
SCANNED = 1000
"""Characters of an error message the removed-API patterns look at."""

_NAME = r"([A-Za-z_]\w{0,39})"
_MODULE_ATTRIBUTE = re.compile(r"module 'numpy(?:\.[a-z_]{1,20})?' has no attribute '" + _NAME + "'")
_EXPIRED = re.compile(r"`np\." + _NAME + r"` was removed in the NumPy (\d{1,2}\.\d{1,2}) release")
_ARRAY_ATTRIBUTE = re.compile(r"'numpy\.ndarray' object has no attribute '" + _NAME + "'")
_KEYWORD = re.compile(_NAME + r"\(\) got an unexpected keyword argument '" + _NAME + "'")

REPLACEMENTS = {
    "float": "float", "int": "int", "bool": "bool", "object": "object", "complex": "complex", "str": "str",
    "product": "np.prod", "cumproduct": "np.cumprod", "alltrue": "np.all", "sometrue": "np.any",
    "in1d": "np.isin", "trapz": "np.trapezoid", "msort": "np.sort(a, axis=0)", "asfarray": "np.asarray",
    "NaN": "np.nan", "NAN": "np.nan", "Inf": "np.inf", "Infinity": "np.inf", "infty": "np.inf", "PINF": "np.inf",
    "NINF": "-np.inf", "float_": "np.float64", "complex_": "np.complex128", "round_": "np.round",
    "string_": "np.bytes_", "unicode_": "np.str_", "cast": "np.asarray(a, dtype=...)",
}
"""What replaces a NumPy attribute that recent releases removed, for the note's advice."""
ARRAY_REPLACEMENTS = {"ptp": "np.ptp(a)", "itemset": "a[index] = value", "newbyteorder": "a.view(a.dtype.newbyteorder())"}
REMOVED_KEYWORDS = {("reshape", "newshape"): "np.reshape(a, shape) or a.reshape(shape)"}
"""(function, keyword) NumPy no longer accepts, and how to write the call instead."""


def running_versions() -> tuple[tuple[str, str], ...]:
    """(distribution, version) of NumPy and torch as installed for this interpreter."""
    versions = []
    for name, _ in PACKAGES:
        try:
            versions.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            versions.append((name, "not installed"))
    return tuple(versions)


def _release(version: str) -> str:
    """'2.13.0+cpu' -> '2.13.0': a local build tag (CPU, CUDA) is the same release."""
    return version.split("+", 1)[0]


def pinned(assignment: Assignment) -> dict[str, str]:
    """The spec's pins by distribution name: {} when the spec names no environment."""
    if assignment.environment is None:
        return {}
    return {name: version for name, version in assignment.environment.model_dump().items() if version}


def requirements(assignment: Assignment) -> list[str]:
    """``numpy==X``, ``torch==Y`` for pip, in that order, as the spec pins them."""
    return [f"{name}=={version}" for name, version in pinned(assignment).items()]


def mismatches(assignment: Assignment, versions: tuple[tuple[str, str], ...] | None = None) -> list[str]:
    """One sentence per pinned package whose running version differs from the spec's."""
    running = dict(running_versions() if versions is None else versions)
    labels = dict(PACKAGES)
    return [
        f"{labels[name]} {running.get(name, 'not installed')} is installed here, but the course grades with "
        f"{labels[name]} {version} (the spec's environment): results may differ from the course's"
        for name, version in pinned(assignment).items()
        if _release(running.get(name, "")) != version
    ]


def describe(versions: tuple[tuple[str, str], ...]) -> str:
    labels = dict(PACKAGES)
    return " and ".join(f"{labels.get(name, name)} {version}" for name, version in versions)


def environment_note(assignment: Assignment, versions: tuple[tuple[str, str], ...]) -> str:
    """The sentence every report carries about the versions that graded it."""
    where = "measured in the grader's process, whose sandboxed workers run the same interpreter"
    note = f"Graded with {describe(versions)} ({where})"
    differ = mismatches(assignment, versions)
    if differ:
        return f"{note}. Warning: " + "; ".join(differ) + "."
    return note + (", the versions the course grades with." if pinned(assignment) else ".")


def _removed(message: str) -> str:
    """What NumPy API ``message`` (an error's one line) says is gone, and what replaces it; '' if none."""
    text = message[:SCANNED]
    if match := _EXPIRED.search(text):
        name, release = match.groups()
        advice = f"; use {REPLACEMENTS[name]}" if name in REPLACEMENTS else ""
        return f"no longer has `np.{name}` (removed in NumPy {release}{advice})"
    if match := _MODULE_ATTRIBUTE.search(text):
        name = match.group(1)
        if name in REPLACEMENTS:
            return f"no longer has `np.{name}` (use {REPLACEMENTS[name]})"
        return ""  # a name NumPy never had is the student's typo, not a removal
    if (match := _ARRAY_ATTRIBUTE.search(text)) and match.group(1) in ARRAY_REPLACEMENTS:
        return f"no longer has the array method `.{match.group(1)}()` (use {ARRAY_REPLACEMENTS[match.group(1)]})"
    if (match := _KEYWORD.search(text)) and match.groups() in REMOVED_KEYWORDS:
        function, keyword = match.groups()
        return f"no longer accepts the keyword `{keyword}` of `np.{function}` (write {REMOVED_KEYWORDS[function, keyword]})"
    return ""


def removed_api_notes(report: GradeReport, assignment: Assignment, versions: tuple[tuple[str, str], ...]) -> list[str]:
    """A note per NumPy API the report's errors show removed, naming the version and the problems."""
    found: dict[str, list[str]] = {}
    for problem in report.problems:
        messages = [problem.message] + [case.message for check in problem.checks for case in check.cases
                                        if case.public and case.message]
        for message in messages:
            if what := _removed(message):
                if problem.problem not in found.setdefault(what, []):
                    found[what].append(problem.problem)
    if not found:
        return []
    numpy = dict(versions).get("numpy", "")
    whose = "which this course grades with" if pinned(assignment).get("numpy") == _release(numpy) else \
        "which graded this submission"
    return [f"NumPy {numpy}, {whose}, {what}: the error in {', '.join(problems)}."
            for what, problems in found.items()]


def with_environment(report: GradeReport, assignment: Assignment) -> GradeReport:
    """``report`` with the versions that graded it, their note, and any removed-API notes."""
    versions = running_versions()
    notes = (*report.notes, environment_note(assignment, versions), *removed_api_notes(report, assignment, versions))
    return dataclasses.replace(report, environment=versions, notes=notes)
