"""The terminal of ``grader grade``: rich's live progress in a terminal, plain lines in a pipe or a CI log."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from grader.reports.progress import RunProgress
from grader.results import GradeReport, ProblemResult

from conftest import ROOT

SPEC = ROOT / "tests" / "data" / "batch" / "batch.yaml"
CORRECT = "import numpy as np\n\ndef total(x):\n    return float(np.sum(x))\n\ndef scaled(x):\n    return x * 3.0\n"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
"""Control characters other than tab and newline: escape codes, carriage returns, backspaces."""
COLOUR = re.compile(r"\x1b\[[0-9;]*(3[0-9]|9[0-7])[0-9;]*m")


def report(status: str = "graded") -> GradeReport:
    return GradeReport(submission="s", assignment="a", problems=(ProblemResult(problem="f", points=1, status=status),))


def run_progress(console: Console, total: int, crashed_at: int = 1) -> str:
    with RunProgress(total, console=console) as progress:
        for index in range(total):
            progress.update(report("limit" if index == crashed_at else "graded"), cached=index == 0)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_in_a_pipe_it_prints_plain_lines() -> None:
    printed = run_progress(Console(file=io.StringIO(), width=60), 3)
    assert not CONTROL.search(printed)
    lines = printed.splitlines()
    assert lines[-1].startswith("graded 3/3 (1 unchanged), ")
    assert lines[-1].endswith("problems: 0 crashes, 1 limit, 0 missing")
    assert all(line.startswith("graded ") for line in lines)


def test_the_progress_line_and_the_class_summary_count_alike() -> None:
    """One definition (ProblemResult.trouble): a missing function is counted as missing in both,
    a function that raised as a crash, a limit as a limit."""
    from grader.reports.render import summary_context
    from grader.reports.summary import SubmissionRecord, summarize
    from grader.results import CheckResult, Outcome

    raised = CheckResult(name="v", kind="value", weight=1, score=0, outcome=Outcome.ERROR, message="ValueError")
    reports = [
        GradeReport(submission="a", assignment="x", problems=(
            ProblemResult(problem="f", points=1, status="missing", message="f is not defined"),
            ProblemResult(problem="g", points=1, checks=(raised,)))),
        GradeReport(submission="b", assignment="x", problems=(ProblemResult(problem="f", points=1, status="limit"),)),
    ]
    console = Console(file=io.StringIO(), width=200)
    with RunProgress(2, console=console) as progress:
        for item in reports:
            progress.update(item, cached=False)
    line = console.file.getvalue().splitlines()[-1]  # type: ignore[attr-defined]
    summary = summary_context(summarize("x", [SubmissionRecord.from_report(item) for item in reports]))
    assert line.endswith("problems: 1 crash, 1 limit, 1 missing")
    assert summary["troubles"] == "1 crash, 1 limit, 1 missing"


def test_plain_lines_come_every_tenth_of_the_class() -> None:
    lines = run_progress(Console(file=io.StringIO()), 200).splitlines()
    assert 10 <= len(lines) <= 11
    assert lines[-1].startswith("graded 200/200")


def test_in_a_terminal_it_shows_a_live_display() -> None:
    printed = run_progress(Console(file=io.StringIO(), force_terminal=True, width=140), 3)
    assert "\x1b[" in printed and "\r" in printed  # redrawn in place
    assert "3/3" in printed and "0 crashes, 1 limit, 0 missing" in printed and "time left" in printed
    assert COLOUR.search(printed)


def test_no_color_keeps_the_display_without_colours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    printed = run_progress(Console(file=io.StringIO(), force_terminal=True, width=140), 3)
    assert "3/3" in printed
    assert not COLOUR.search(printed)


def test_a_silent_run_prints_nothing() -> None:
    console = Console(file=io.StringIO(), force_terminal=True)
    with RunProgress(2, console=console, enabled=False) as progress:
        progress.update(report(), cached=False)
        progress.missed()
    assert console.file.getvalue() == ""  # type: ignore[attr-defined]


def grade_cli(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    folder = tmp_path / "subs"
    for index in range(3):
        (folder / f"s{index}").mkdir(parents=True)
        (folder / f"s{index}" / "work.py").write_text(CORRECT)
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    return subprocess.run([sys.executable, "-m", "grader", "grade", str(SPEC), str(folder), "--out", str(tmp_path / "out"),
                           "--no-html", "--workers", "1"], capture_output=True, text=True, cwd=ROOT,
                          env={**environment, **env})


def test_grade_in_a_pipe_prints_plain_lines(tmp_path: Path) -> None:
    result = grade_cli(tmp_path)
    assert result.returncode == 0, result.stderr
    assert not CONTROL.search(result.stdout + result.stderr)
    assert re.search(r"^graded 3/3 \(0 unchanged\), [0-9.]+/s, ~\d+ s left, problems: 0 crashes, 0 limits, 0 missing$",
                     result.stderr, re.MULTILINE)
    assert re.search(r"^s1 +2\.00 +2\.00$", result.stdout, re.MULTILINE)


def test_grade_in_a_terminal_shows_a_progress_display(tmp_path: Path) -> None:
    result = grade_cli(tmp_path, FORCE_COLOR="1")  # rich then takes the output for a terminal
    assert result.returncode == 0, result.stderr
    assert "\x1b[" in result.stderr and "grading" in result.stderr and "3/3" in result.stderr
    assert "graded 3/3" not in result.stderr  # the display, not the plain lines


def test_errors_in_a_pipe_are_plain(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "grader", "grade", str(tmp_path / "missing.yaml"), str(tmp_path),
                             "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr.startswith("grader: spec error: ") and "missing.yaml" in result.stderr
    assert not CONTROL.search(result.stderr)
