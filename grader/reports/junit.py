"""A report as JUnit XML, the test-result format CI systems display (GitHub, GitLab, Jenkins).

Written to the Apache Ant / Jenkins schema (``JUnit.xsd``, the one CI systems read;
``tests/data/junit.xsd`` validates it)::

    <testsuites>
      <testsuite package="hw1" id="0" name="hw1" timestamp="2026-01-31T12:00:00" hostname="..."
                 tests="7" failures="2" errors="0" skipped="0" time="4.213">
        <properties><property name="score" value="58.12"/> ...</properties>
        <testcase classname="hw1" name="sigmoid" time="0"/>                      passed
        <testcase classname="hw1" name="softmax" time="0">
          <failure message="7.50 / 10.00: ..." type="grader.failed">problem_text</failure>
        </testcase>
        <testcase ...><error message="..." type="grader.import_error">...</error></testcase>
        <testcase ...><skipped message="runs on hidden cases only"/></testcase>
        <system-out>score line and notes</system-out>
        <system-err></system-err>
      </testsuite>
    </testsuites>

One ``<testcase>`` per problem: ``classname`` is the assignment, ``name`` the problem id. A problem
that was graded and lost points is a ``failure`` (type ``grader.failed``, ``grader.error`` or
``grader.timeout`` after its first failing check); one whose code could not be graded at all (module
or function missing, import error, a sandbox limit) is an ``error`` (type ``grader.<status>``); one
with no check on public cases is ``skipped``. The element's text is the plain-text feedback
(``grader.reports.text.problem_text``), the ``message`` its first line of trouble. The schema has no
per-problem times (the grader times the whole run), so each test case says ``time="0"``.

Student code prints what it likes: characters XML 1.0 cannot hold (NUL, escape sequences' ESC, ...)
are removed, and the file is UTF-8.
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

from grader import __version__
from grader.reports.text import problem_text
from grader.results import GradeReport, Outcome, ProblemResult

_ILLEGAL = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
MESSAGE_CHARS = 500
"""Longest ``message`` attribute kept: the element's text has the whole feedback."""


def xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids (control characters, lone surrogates)."""
    return _ILLEGAL.sub("", text)


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"


def _verdict(problem: ProblemResult) -> tuple[str, str] | None:
    """(element, type) of a problem that did not pass, None for one that did."""
    if problem.max_score == 0:
        return "skipped", ""
    if problem.passed:
        return None
    if problem.status != "graded":
        return "error", f"grader.{problem.status}"
    first = next((check for check in problem.checks if check.counted and check.outcome is not Outcome.PASSED), None)
    return "failure", f"grader.{first.outcome.value if first is not None else 'failed'}"


def _message(problem: ProblemResult) -> str:
    line = f"{problem.score:.2f} / {problem.max_score:.2f}"
    failure = " ".join(problem.failure.split())
    text = f"{line}: {failure}" if failure else line
    return xml_text(text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS - 3] + "...")


def junit_tree(report: GradeReport, *, timestamp: datetime | None = None, hostname: str | None = None) -> ET.Element:
    """The report as an element tree (root ``<testsuites>``)."""
    verdicts = [_verdict(problem) for problem in report.problems]
    kinds = [verdict[0] if verdict else "passed" for verdict in verdicts]
    root = ET.Element("testsuites")
    suite = ET.SubElement(root, "testsuite", {
        "package": report.assignment,
        "id": "0",
        "name": report.assignment,
        "timestamp": (timestamp or datetime.now()).strftime("%Y-%m-%dT%H:%M:%S"),
        "hostname": xml_text(hostname or socket.gethostname()).strip() or "localhost",
        "tests": str(len(report.problems)),
        "failures": str(kinds.count("failure")),
        "errors": str(kinds.count("error")),
        "skipped": str(kinds.count("skipped")),
        "time": _seconds(report.execution_time),
    })
    properties = ET.SubElement(suite, "properties")
    for name, value in (("submission", report.submission), ("mode", report.mode),
                        ("score", f"{report.score:.2f}"), ("max_score", f"{report.max_score:.2f}"),
                        ("grader", __version__), *report.environment):
        ET.SubElement(properties, "property", {"name": name, "value": xml_text(value)})
    for problem, verdict in zip(report.problems, verdicts):
        case = ET.SubElement(suite, "testcase", {"classname": report.assignment, "name": problem.problem, "time": "0"})
        if verdict is None:
            continue
        element, kind = verdict
        if element == "skipped":
            ET.SubElement(case, "skipped", {"message": "no check runs on public cases; graded by the instructor only"})
            continue
        detail = ET.SubElement(case, element, {"message": _message(problem), "type": kind})
        detail.text = xml_text(problem_text(problem))
    head = f"{report.assignment} / {report.submission}: {report.score:.2f} / {report.max_score:.2f}"
    ET.SubElement(suite, "system-out").text = xml_text("\n".join([head, *report.notes]))
    ET.SubElement(suite, "system-err").text = ""
    return root


def to_junit_xml(report: GradeReport, *, timestamp: datetime | None = None, hostname: str | None = None) -> bytes:
    """The report as a UTF-8 JUnit XML document."""
    root = junit_tree(report, timestamp=timestamp, hostname=hostname)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def write_junit(report: GradeReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(to_junit_xml(report))
