"""One root cause, shown once: what an earlier check of a problem already showed for a case is not
shown again by a later one.

A wrong derivative fails the value check and the gradient check of the same case; both carry the
same inputs, the same scenario steps and the same differing entries, and printing them twice made
a report of hundreds of lines for one mistake. The terminal, results.json's text and the HTML
feedback all take a problem's failed cases through ``without_repeats``; each later case then keeps
its own message (what that check found) and points back to the first.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

from grader.results import CaseResult, CheckResult, Comparison

REPEATED = "inputs, steps and the differing entries as shown above for this case"
"""What a later check says instead of showing a case again."""


def without_repeats(checks: Iterable[CheckResult]) -> list[list[tuple[CaseResult, bool]]]:
    """Each check's failed cases, in order, as (case, repeated): a case shown by an earlier check of
    the problem comes back without the inputs, steps, values and differing entries already shown
    (``repeated`` is then True); a case's own message is always kept."""
    shown: dict[str, CaseResult] = {}
    seen_entries: set[tuple[str, tuple[str, ...]]] = set()
    result = []
    for check in checks:
        cases = []
        for case in check.cases:
            if case.passed:
                continue
            earlier = shown.get(case.case)
            if earlier is None or not case.public:
                shown.setdefault(case.case, case)
                seen_entries.update(_entries(c) for c in case.comparisons if c.first)
                cases.append((case, False))
                continue
            comparisons = tuple(dataclasses.replace(c, first=(), heatmap=()) if _entries(c) in seen_entries
                                else c for c in case.comparisons)
            seen_entries.update(_entries(c) for c in case.comparisons if c.first)
            same = case.inputs == earlier.inputs and case.steps == earlier.steps
            trimmed = dataclasses.replace(
                case, inputs="" if same else case.inputs, steps="" if same else case.steps,
                expected="" if same and case.expected == earlier.expected else case.expected,
                obtained="" if same and case.obtained == earlier.obtained else case.obtained,
                comparisons=comparisons)
            cases.append((trimmed, same))
        result.append(cases)
    return result


def _entries(comparison: Comparison) -> tuple[str, tuple[str, ...]]:
    """A comparison's first differing entries as the reports print them (six significant digits):
    a reference output and a numerical gradient equal to that precision are the same entries."""
    return comparison.path, tuple(f"{index}: {got:.6g} / {want:.6g}" for index, got, want in comparison.first)
