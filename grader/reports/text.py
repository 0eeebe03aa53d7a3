"""Plain-text feedback: what results.json, JUnit failures and terminals show of a result.

Reads results only; computes nothing. Hidden cases appear as their (already stripped) message
and hint.
"""

from __future__ import annotations

from grader.reports.repeats import REPEATED, without_repeats
from grader.results import CaseResult, CheckResult, GradeReport, Outcome, ProblemResult

MARKS = {Outcome.PASSED: "PASS", Outcome.FAILED: "FAIL", Outcome.ERROR: "ERROR", Outcome.TIMEOUT: "TIMEOUT",
         Outcome.SKIPPED: "SKIP"}
OUTPUT_SHOWN = 2000


def _indent(text: str, prefix: str = "      ") -> str:
    return "\n".join(prefix + line for line in text.rstrip().splitlines())


def check_text(check: CheckResult, failed: list[tuple[CaseResult, bool]] | None = None) -> str:
    """A check and its failed cases (``failed``: as ``repeats.without_repeats`` trimmed them)."""
    lines = [f"  [{MARKS[check.outcome]}] {check.name}: {check.message}"]
    for case, repeated in failed if failed is not None else [(case, False) for case in check.cases if not case.passed]:
        label = f"case {case.case}" + ("" if case.public else " (hidden)")
        lines.append(f"    - {label}: {case.message}")
        if repeated:
            lines.append(f"      ({REPEATED})")
        if case.hint:
            lines.append(f"      hint: {case.hint}")
        if case.inputs:
            lines.append(f"      inputs:   {case.inputs}")
        if case.steps:
            lines.append("      steps (as Python):")
            lines.append(_indent(case.steps, "        "))
        if case.expected:
            lines.append(f"      expected: {case.expected}")
        if case.obtained:
            lines.append(f"      obtained: {case.obtained}")
        for comparison in case.comparisons:
            for index, got, want in comparison.first if not comparison.equal else ():
                where = f"{comparison.path}{index}" if comparison.path else index
                lines.append(f"      at {where}: obtained {got:.6g}, expected {want:.6g}")
        if case.traceback:
            lines.append("      traceback (your code):")
            lines.append(_indent(case.traceback, "        "))
    return "\n".join(lines)


def problem_text(problem: ProblemResult) -> str:
    lines = [f"{problem.problem}: {problem.score:.2f} / {problem.max_score:.2f}"]
    if problem.message:
        lines.append(f"  {problem.message}")
    for diagnosis in problem.diagnoses:
        lines.append(f"  Likely mistake ({diagnosis.mistake}): {diagnosis.message}")
    if problem.status in ("missing", "import_error"):
        # Every check failed for the same reason: say it once, with the traceback if there is one.
        traceback = next((case.traceback for check in problem.checks for case in check.cases if case.traceback), "")
        if traceback:
            lines.append("  traceback (your code):\n" + _indent(traceback, "    "))
    else:
        lines += [check_text(check, failed) for check, failed in zip(problem.checks, without_repeats(problem.checks))]
    if problem.output.strip():
        shown = problem.output
        if len(shown) > OUTPUT_SHOWN:
            # Keep the sandbox's truncation note, which comes last, visible.
            note = shown.rsplit("\n", 1)[-1] if "[output truncated:" in shown[-300:] else ""
            shown = shown[:OUTPUT_SHOWN] + f"\n[... {len(problem.output) - OUTPUT_SHOWN} more characters not shown here]"
            shown += f"\n{note}" if note else ""
        lines.append("  Your code printed:\n" + _indent(shown))
    return "\n".join(lines)


def report_text(report: GradeReport) -> str:
    head = f"{report.assignment} / {report.submission}: {report.score:.2f} / {report.max_score:.2f}"
    return "\n\n".join([head, *report.notes, *(problem_text(problem) for problem in report.problems)])
