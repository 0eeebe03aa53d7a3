"""results.json in the Gradescope autograder format, and back.

One test per problem, named by the problem id; the per-check detail is in the test's ``output``
(plain text) and ``extra_data`` (the full result, so that a report can be read back losslessly).
Format: https://gradescope-autograders.readthedocs.io/en/latest/specs/ (score, execution_time,
output, visibility, tests[name, score, max_score, status, output, visibility, extra_data]).
"""

from __future__ import annotations

from typing import Any

from grader.reports.text import problem_text
from grader.results import GradeReport, problem_from_dict, to_dict


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
        "extra_data": {
            "submission": report.submission,
            "assignment": report.assignment,
            "mode": report.mode,
            "max_score": _round(report.max_score),
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
    )
