"""Hidden means hidden: whatever a worker answers on a hidden case, no text of it reaches a report.

A worker's reply is the student's to write (the hand-written replies of tests/hostile/ show it), so
these tests answer every hidden call with hostile outcomes quoting its inputs, of every status, and
read every report built from the result: results.json, Gradescope's autograder results, the HTML
feedback, JUnit and the terminal text. The sandboxed runs of tests/hostile/hidden_* show the same
for real workers; tests/sandbox/test_session_secrecy.py shows what the session does with output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.calls import Call, CallOutcome
from grader.grading.expectations import ReferenceExpectations
from grader.grading.runner import grade_problem
from grader.reports.gradescope import to_autograder_results, to_results_json
from grader.reports.junit import to_junit_xml
from grader.reports.render import render_feedback
from grader.reports.text import report_text
from grader.results import CaseResult, GradeReport, Outcome, case_from_dict
from grader.spec import Limits

from test_checks import make_spec

SECRET = "31415.9265"
"""The hidden case's input: it must appear in no report."""

PROBLEM = {
    "id": "sigmoid",
    "points": 4,
    "cases": [
        {"name": "pub", "visibility": "public", "args": {"x": [0.25, 0.5]}},
        {"name": "kept", "visibility": "hidden", "hint": "think of large inputs", "args": {"x": [31415.9265, -1.0]}},
    ],
    "checks": [{"kind": "value"}, {"kind": "stability"}, {"kind": "property", "property": "in_range", "low": 0, "high": 1},
               {"kind": "property", "property": "shift_invariant", "arg": "x", "shift": 1.0, "rtol": 1.0}],
}


class HostileSession:
    """Answers the public calls right and every hidden call with ``status``, quoting its inputs
    everywhere a reply can carry text."""

    def __init__(self, status: str) -> None:
        self.status = status
        self.quoted: list[str] = []

    def run(self, calls: list[Call], limits: Limits) -> tuple[dict[str, CallOutcome], str]:
        outcomes = {}
        for call in calls:
            x = np.asarray(call.args[0], dtype=float)
            if not call.hidden:
                outcomes[call.key] = CallOutcome(key=call.key, status="ok", value=1 / (1 + np.exp(-x)))
                continue
            quoted = f"the inputs were {x.tolist()!r}"
            self.quoted.append(quoted)
            value = x if self.status == "ok" else None
            outcomes[call.key] = CallOutcome(key=call.key, status=self.status, value=value, message=quoted,
                                             traceback=f"Traceback: {quoted}", warnings=(quoted,))
        return outcomes, "printed during the public calls"

    def close(self) -> None:
        pass


def every_report(report: GradeReport, assignment: Any) -> dict[str, str]:
    return {
        "results.json": json.dumps(to_results_json(report)),
        "autograder results.json": json.dumps(to_autograder_results(report, assignment, hidden_visibility="visible")),
        "feedback.html": render_feedback(report),
        "junit.xml": to_junit_xml(report).decode(),
        "terminal": report_text(report),
    }


@pytest.mark.parametrize("status", ["ok", "error", "bad_return", "protocol", "timeout", "died", "not_defined",
                                    "import_error", "missing_module", "bad_weights", "skipped"])
def test_no_hidden_input_reaches_any_report(tmp_path: Path, status: str) -> None:
    assignment = make_spec(tmp_path, PROBLEM)
    problem = assignment.problems[0]
    session = HostileSession(status)
    result = grade_problem(assignment, problem, session, ReferenceExpectations(assignment), "grade")
    assert any("31415" in quoted for quoted in session.quoted)  # the attack quotes the input
    report = GradeReport(submission="s", assignment="t", problems=(result,))
    hidden = [case for check in result.checks for case in check.cases if not case.public]
    assert any(not case.passed for case in hidden)  # the hidden case failed: its messages are shown
    for where, text in every_report(report, assignment).items():
        assert "31415" not in text, f"a hidden input reached {where}"
    assert "printed during the public calls" in report_text(report)


def test_a_hidden_case_with_student_text_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="fixed phrase"):
        CaseResult(case="kept", public=False, outcome=Outcome.ERROR, message=f"ValueError: {SECRET}")
    with pytest.raises(ValueError, match="no inputs"):
        CaseResult(case="kept", public=False, outcome=Outcome.FAILED, message="wrong answer on a hidden case",
                   obtained=SECRET)
    CaseResult(case="kept", public=False, outcome=Outcome.FAILED, message="property in_range violated on a hidden case")
    CaseResult(case="pub", public=True, outcome=Outcome.ERROR, message=f"ValueError: {SECRET}")


def test_an_old_results_json_is_read_with_its_hidden_cases_cleaned() -> None:
    case = case_from_dict({"case": "kept", "public": False, "outcome": "error", "message": f"boom {SECRET}",
                           "traceback": SECRET, "inputs": SECRET})
    assert case.message == "wrong answer on a hidden case" and not case.traceback and not case.inputs


def test_a_public_case_keeps_a_bounded_message(tmp_path: Path) -> None:
    """A dict with many long keys where an array is expected: "got a dict with keys [...]" quotes
    them all; stored, it is a few thousand characters (issue 21, 6)."""
    assignment = make_spec(tmp_path, {**PROBLEM, "checks": [{"kind": "value"}]})

    class Keys(HostileSession):
        def run(self, calls: list[Call], limits: Limits) -> tuple[dict[str, CallOutcome], str]:
            keys = {f"k{i:06d}" + "x" * 200: 0 for i in range(2000)}
            return {call.key: CallOutcome(key=call.key, status="ok", value=keys) for call in calls}, ""

    result = grade_problem(assignment, assignment.problems[0], Keys("ok"), ReferenceExpectations(assignment), "grade")
    report = GradeReport(submission="s", assignment="t", problems=(result,))
    assert "k000001" in result.checks[0].cases[0].message  # the student's keys, quoted
    assert len(json.dumps(to_results_json(report))) < 40_000
