"""results.json in the Gradescope autograder format, and back.

``to_results_json`` (``grader grade``, ``grader check --json``): one test per problem, named by the
problem id; the per-check detail is in the test's ``output`` (plain text) and ``extra_data`` (the
full result, so that a report can be read back losslessly).

``to_autograder_results`` (``grader autograde``, what a Gradescope autograder package writes): the
same report for Gradescope's own pages, one test per check so that each can have its visibility: a
check that runs on a hidden case is shown to students only as ``hidden_visibility`` says
(``after_published`` by default), the others at once; outputs in Markdown; the MNIST accuracy on
the leaderboard. Its scores add up, per problem and in total, to those of ``to_results_json``.

Format: https://gradescope-autograders.readthedocs.io/en/latest/specs/ (score, execution_time,
output, output_format, visibility, stdout_visibility, extra_data, tests[name, number, score,
max_score, status, output, output_format, visibility, extra_data], leaderboard[name, value, order]).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from grader.reports.text import check_text, problem_text
from grader.results import CheckResult, GradeReport, Outcome, ProblemResult, problem_from_dict, to_dict

if TYPE_CHECKING:  # annotations only: the command line reads VISIBILITIES without loading the spec models
    from grader.spec import Assignment

Visibility = Literal["hidden", "after_due_date", "after_published", "visible"]
"""Gradescope's visibility settings, for tests and for stdout."""
VISIBILITIES: tuple[Visibility, ...] = ("hidden", "after_due_date", "after_published", "visible")

LEADERBOARD_ACCURACY = "MNIST accuracy"


def _round(value: float) -> float:
    return round(value, 6)


def to_results_json(report: GradeReport) -> dict[str, Any]:
    tests = []
    for problem in report.problems:
        extra: dict[str, Any] = {"status": problem.status, "result": to_dict(problem)}
        for check in problem.checks:
            if check.kind == "accuracy":
                # The MNIST facts promised at the top of extra_data, besides the full result.
                extra.update({key: check.data.get(key) for key in ("accuracy", "images", "parameters",
                                                                    "retrained_accuracy") if key in check.data})
        tests.append({
            "name": problem.problem,
            "score": _round(problem.score),
            "max_score": _round(problem.max_score),
            "status": "passed" if problem.passed else "failed",
            "output": problem_text(problem),
            "output_format": "text",
            "visibility": "visible",
            "extra_data": extra,
        })
    return {
        "score": _round(report.score),
        "execution_time": report.execution_time,
        "output": "\n".join(report.notes),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "leaderboard": leaderboard(report),
        "extra_data": {
            "submission": report.submission,
            "assignment": report.assignment,
            "mode": report.mode,
            "max_score": _round(report.max_score),
            "environment": dict(report.environment),  # the NumPy and torch versions that graded it
        },
    }


def from_results_json(data: dict[str, Any]) -> GradeReport:
    extra = data.get("extra_data", {})
    return GradeReport(
        submission=extra["submission"],
        assignment=extra["assignment"],
        mode=extra.get("mode", "grade"),
        execution_time=float(data.get("execution_time", 0.0)),
        notes=tuple(line for line in data.get("output", "").splitlines() if line),
        problems=tuple(problem_from_dict(test["extra_data"]["result"]) for test in data["tests"]),
        environment=tuple(extra.get("environment", {}).items()),
    )


def leaderboard(report: GradeReport) -> list[dict[str, Any]]:
    """The MNIST accuracy of each accuracy check (0 when the model could not be evaluated)."""
    entries: list[dict[str, Any]] = []
    for problem in report.problems:
        for check in problem.checks:
            if check.kind == "accuracy" and check.counted:
                name = LEADERBOARD_ACCURACY if len(entries) == 0 else f"{LEADERBOARD_ACCURACY} ({problem.problem})"
                entries.append({"name": name, "value": _round(float(check.data.get("accuracy") or 0.0)),
                                "order": "desc"})
    return entries


def to_autograder_results(
    report: GradeReport, assignment: Assignment, *, hidden_visibility: Visibility = "after_published"
) -> dict[str, Any]:
    """results.json for Gradescope's pages: one test per check, hidden checks hidden (see the module doc).

    A check is hidden when the spec runs it on a hidden case (whatever its results carry: a check
    cut short by a limit has no case results, and must not show up early for that).
    """
    data = to_results_json(report)
    data["tests"] = [test for index, problem in enumerate(report.problems, start=1)
                     for test in _problem_tests(problem, index, _hidden_checks(assignment, problem), hidden_visibility)]
    data["output_format"] = "md"
    data["output"] = "\n\n".join(_escape_md(note) for note in report.notes)
    data["extra_data"]["problems"] = {problem.problem: {"score": _round(problem.score),
                                                        "max_score": _round(problem.max_score)}
                                      for problem in report.problems}
    return data


def _hidden_checks(assignment: Assignment, result: ProblemResult) -> list[bool]:
    """For each check of a problem's result, whether it runs on a hidden case."""
    problem = next((p for p in assignment.problems if p.id == result.problem), None)
    if problem is None or len(problem.checks) != len(result.checks):  # results of another spec: trust them
        return [any(not case.public for case in check.cases) for check in result.checks]
    return [check.kind != "accuracy" and any(case.visibility == "hidden" for case in problem.check_cases(check))
            for check in problem.checks]


def _problem_tests(problem: ProblemResult, number: int, hidden: list[bool],
                   hidden_visibility: Visibility) -> list[dict[str, Any]]:
    """A problem as one test per check, each with its share of the problem's points."""
    counted = sum(check.weight for check in problem.checks if check.counted)
    header = _problem_header(problem)
    if not problem.checks:
        return [_test(problem.problem, f"{number}", problem.score, problem.max_score, problem.passed,
                      header, "visible", problem)]
    tests = []
    # What the student's code printed may show a hidden case's inputs: it goes with a hidden check.
    printed_on = next((k for k, is_hidden in enumerate(hidden) if is_hidden), 0)
    for k, check in enumerate(problem.checks):
        share = problem.points * check.weight / counted if check.counted and counted else 0.0
        body = header if k == 0 else []
        if problem.status in ("missing", "import_error"):
            body = body or [_escape_md(problem.message)]
        else:
            body = [*body, _fenced(check_text(check))]
        if k == printed_on and problem.output.strip():
            body.append("Your code printed:\n\n" + _fenced(problem.output))
        passed = check.outcome is Outcome.PASSED if check.counted else problem.passed
        tests.append(_test(f"{problem.problem}: {check.name}", f"{number}.{k + 1}", share * check.score, share,
                           passed, body, hidden_visibility if hidden[k] else "visible", problem, check))
    return tests


def _test(name: str, number: str, score: float, max_score: float, passed: bool, body: list[str],
          visibility: Visibility, problem: ProblemResult, check: CheckResult | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "number": number,
        "score": _round(score),
        "max_score": _round(max_score),
        "status": "passed" if passed else "failed",
        "output": "\n\n".join(body),
        "output_format": "md",
        "visibility": visibility,
        "extra_data": {"problem": problem.problem, "check": check.name if check else None,
                       "outcome": check.outcome.value if check else problem.status},
    }


def _problem_header(problem: ProblemResult) -> list[str]:
    lines = [f"**{_escape_md(problem.problem)}**: {problem.score:.2f} / {problem.max_score:.2f} for the problem"]
    if problem.message:
        lines.append(_escape_md(problem.message))
    for diagnosis in problem.diagnoses:
        lines.append(f"**Likely mistake** ({_escape_md(diagnosis.mistake)}): {_escape_md(diagnosis.message)}")
    if problem.status in ("missing", "import_error"):
        traceback = next((case.traceback for check in problem.checks for case in check.cases if case.traceback), "")
        if traceback:
            lines.append("Traceback (your code):\n\n" + _fenced(traceback))
    return lines


def _fenced(text: str) -> str:
    """Text shown as typed: a code block whose fence is longer than any run of backticks in it."""
    run, fence = 0, 3
    for char in text:
        run = run + 1 if char == "`" else 0
        fence = max(fence, run + 1)
    return f"{'`' * fence}\n{text.rstrip()}\n{'`' * fence}"


def _escape_md(text: str) -> str:
    """Student and grader text in Markdown prose: its markup characters shown, not interpreted."""
    return "".join(f"\\{char}" if char in "\\`*_[]<>#|~" else char for char in text)
