"""What ``grader check`` prints (the details of what went wrong, then a table of problems), what
``grader grade`` prints at the end of a run (a table of submissions), and the command's errors.

Like pytest's terminal reporter, failures come first and the short summary last, where the eye
lands when the command ends. The details are the plain text of ``text.py`` (the same words as in
results.json); rich adds colour only when the terminal supports it and prints plain text
otherwise. Every string from the results is wrapped in ``Text``, never parsed as rich markup, so
a student's "[bold]" or "[/]" prints as typed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from grader.reports.text import problem_text
from grader.results import GradeReport, ProblemResult

FAILURE_SHOWN = 120
"""Characters of a problem's first failure shown in the table (the details above say it all)."""


def _mark(problem: ProblemResult) -> Text:
    if not problem.max_score:
        return Text("–", style="dim")
    if problem.passed:
        return Text("✓", style="bold green")
    return Text("✗", style="bold red")


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= FAILURE_SHOWN else line[: FAILURE_SHOWN - 1] + "…"


def problems_table(report: GradeReport) -> Table:
    """One row per problem: ✓/✗, score, then its first failure and the diagnosed mistake, if any."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("", no_wrap=True)
    table.add_column("problem", no_wrap=True, style="bold")
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("first failure / likely mistake", overflow="fold")
    for problem in report.problems:
        what = Text()
        if not problem.passed and problem.failure:
            what.append(_short(problem.failure), style="red")
        for diagnosis in problem.diagnoses:
            what.append("\nLikely mistake: " if what else "Likely mistake: ", style="bold yellow")
            what.append(_short(diagnosis.message), style="yellow")
        table.add_row(_mark(problem), Text(problem.problem),
                      Text(f"{problem.score:.2f} / {problem.max_score:.2f}"), what)
    return table


def print_report(report: GradeReport, *, console: Console | None = None, html: str | None = None,
                 advice: bool = True) -> None:
    """Print a checked submission: the details of each imperfect problem, then the summary table.

    ``html`` is where the HTML report was written, if it was; ``advice``: suggest ``--html`` (not
    from Python, where there is no command line).
    """
    console = console or Console(highlight=False, soft_wrap=False)
    detailed = [problem for problem in report.problems if not problem.passed or problem.output.strip()]
    for problem in detailed:
        mark = "✓" if problem.passed else "✗"
        console.print(Rule(Text(f"{mark} {problem.problem}"), style="green" if problem.passed else "red"))
        # Plain text as in results.json; the terminal wraps long lines, rich must not re-indent them.
        console.print(Text(problem_text(problem)), soft_wrap=True)
    if detailed:
        console.print()
    for note in report.notes:
        console.print(Text(note, style="dim"), soft_wrap=True)
    console.print(problems_table(report))
    full = sum(1 for problem in report.problems if problem.passed)
    total = Text(f"{report.assignment} / {report.submission}: {report.score:.2f} / {report.max_score:.2f}",
                 style="bold green" if report.passed else "bold")
    total.append(f"  (full marks on {full} of {len(report.problems)} problems)", style="")
    console.print(total)
    if report.mode == "check":
        console.print(Text("Public cases only: the final grade also runs hidden cases.", style="dim"))
    if html:
        console.print(Text(f"HTML report: {html}", style="dim"))
    elif not report.passed and advice:
        console.print(Text("For a report with tables and pictures, add --html feedback.html.", style="dim"))


def run_table(rows: list[dict[str, Any]], *, rules: bool = True) -> Table:
    """One row per graded submission, sorted by id: its score out of the maximum.

    ``rules``: a line under the header (off for logs, which get plain lines).
    """
    table = Table(box=box.SIMPLE_HEAD if rules else None, show_edge=False, pad_edge=False)
    table.add_column("submission", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("of", justify="right", no_wrap=True)
    for row in sorted(rows, key=lambda row: row["id"]):
        full = abs(row["total"] - row["max"]) < 1e-9 and row["max"] > 0
        table.add_row(Text(row["id"]), Text(f"{row['total']:.2f}", style="green" if full else ""), f"{row['max']:.2f}")
    return table


def print_run_summary(assignment: str, rows: list[dict[str, Any]], out: Path, *, html: bool,
                      failures: dict[str, str], console: Console | None = None) -> None:
    """The end of ``grader grade``: the scores, where the reports are, and what could not be graded."""
    console = console or Console(highlight=False)
    console.print(Text(f"graded {len(rows)} submissions of {assignment} into {out}"), soft_wrap=True)
    if rows:
        console.print(run_table(rows, rules=console.is_terminal))
    console.print(Text(f"gradebook: {out / 'gradebook.csv'}"), soft_wrap=True)
    if html:
        console.print(Text(f"class summary: {out / 'index.html'} (feedback.html in each submission's folder)"),
                      soft_wrap=True)
    if failures:
        console.print(Text(f"NOT graded, for a reason of the machines ({len(failures)}; "
                           "run the same command again to grade them):", style="bold red"), soft_wrap=True)
        for sid, reason in sorted(failures.items()):
            console.print(Text(f"  {sid:<20} {reason}"), soft_wrap=True)


def print_error(message: str, *, kind: str = "", console: Console | None = None) -> None:
    """A command's error on stderr: ``grader: [kind: ]message``, the prefix in red on a terminal."""
    console = console or Console(stderr=True, highlight=False)
    text = Text("grader: ", style="bold red")
    if kind:
        text.append(f"{kind}: ", style="bold red")
    text.append(message)
    console.print(text, soft_wrap=True)
