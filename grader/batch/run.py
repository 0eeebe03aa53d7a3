"""Grade a whole folder of submissions: discovery, caching, the executor, gradebook.

Each submission's results are written atomically as soon as it finishes, under a content hash of
the submission, the spec, the reference and the grader version; a re-run skips submissions whose
hash is unchanged, so a run killed half-way resumes where it stopped. The rest go to the run's
executor (``executor``): parallel threads (``local``; the work happens in their sandboxed worker
processes), or tasks on a Dask cluster (``dask``); either way the results come back here and are
written, rendered and counted by the same code. The gradebook is built from the results files, so
memory does not grow with the class.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from grader.batch.executor import Executor, ExecutorName, GradingRun, Pending
from grader.batch.submissions import Submission, assignment_hash, discover, submission_hash
from grader.errors import GraderError
from grader.reports.gradescope import from_results_json, to_results_json
from grader.reports.progress import RunProgress
from grader.reports.render import render_feedback, render_summary
from grader.reports.summary import RecordCollector, clusters_json, summarize
from grader.results import GradeReport
from grader.spec import Assignment


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.chmod(temporary, 0o644)  # mkstemp's 0600 would keep reports from a course web server
    os.replace(temporary, path)


def cached_report(results: Path, key: str) -> GradeReport | None:
    try:
        data = json.loads(results.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("extra_data", {}).get("cache_key") != key:
        return None
    return from_results_json(data)


class GradingIncomplete(GraderError):
    """Some submissions could not be graded for a reason of the machines, not of the student.

    A Dask worker kept dying under the task, or a machine's sandbox could not start. Their results
    are not written, so a re-run of the same command grades exactly them; the gradebook written
    meanwhile lacks them. ``failures`` maps each such submission id to the reason, ``rows`` are the
    gradebook rows of the submissions that were graded.
    """

    def __init__(self, failures: dict[str, str], rows: list[dict[str, Any]]) -> None:
        self.failures = failures
        self.rows = rows
        super().__init__(f"{len(failures)} submission(s) could not be graded: {', '.join(sorted(failures))}")


def executor_named(name: ExecutorName) -> Executor:
    """The executor behind ``--executor``; the Dask one is imported only when asked for."""
    if name == "dask":
        from grader.batch import dask

        return dask.grade_on_dask
    from grader.batch import local

    return local.grade_locally


def grade_folder(
    run: GradingRun,
    submissions: Path,
    *,
    on_report: Callable[[Submission, GradeReport, bool], None] | None = None,
) -> list[dict[str, Any]]:
    """Grade every submission in a folder into ``run.out``; return the gradebook rows.

    Raises:
        GradingIncomplete: after writing everything else, when some submissions could not be
            graded for a reason of the machines (only with ``executor="dask"``).
    """
    entries = discover(submissions)
    base = assignment_hash(run.assignment, extra=str(run.data_dir or ""))
    progress = RunProgress(len(entries), enabled=run.progress is not False)
    records = RecordCollector() if run.html else None
    rows: dict[str, dict[str, Any]] = {}

    def finish(submission: Submission, report: GradeReport, cached: bool) -> None:
        if records is not None:
            feedback = run.out / submission.id / "feedback.html"
            # The cache key covers the grader's templates too: an unchanged submission's report is
            # rendered again only if it is missing (a first run with --no-html, say).
            if not (cached and feedback.is_file()):
                write_atomically(feedback, render_feedback(report, data_dir=run.data_dir))
            records.add(report)
        if on_report is not None:
            on_report(submission, report, cached)
        progress.update(report, cached=cached)
        rows[submission.id] = gradebook_row(report)

    def record(item: Pending, report: GradeReport) -> None:
        data = to_results_json(report)
        data["extra_data"]["cache_key"] = item.key
        write_atomically(run.out / item.submission.id / "results.json", json.dumps(data, indent=1))
        finish(item.submission, report, cached=False)

    pending = []
    failures: dict[str, str] = {}
    with progress:
        for submission in entries:
            key = submission_hash(submission, base)
            report = None if run.force else cached_report(run.out / submission.id / "results.json", key)
            if report is None:
                pending.append(Pending(submission, key))
            else:
                finish(submission, report, cached=True)
        if pending:
            failures = executor_named(run.executor)(run, submissions, pending, record)
        for _ in failures:
            progress.missed()
    graded = [rows[submission.id] for submission in entries if submission.id in rows]
    write_gradebook(run.out / "gradebook.csv", run.assignment, graded)
    if records is not None:
        summary = summarize(run.assignment.assignment, records.records)
        write_atomically(run.out / "index.html", render_summary(summary))
        write_atomically(run.out / "clusters.json", json.dumps(clusters_json(summary), indent=1))
    if failures:
        raise GradingIncomplete(failures, graded)
    return graded


def gradebook_row(report: GradeReport) -> dict[str, Any]:
    return {
        "id": report.submission,
        "total": round(report.score, 4),
        "max": round(report.max_score, 4),
        **{problem.problem: round(problem.score, 4) for problem in report.problems},
    }


def write_gradebook(path: Path, assignment: Assignment, rows: list[dict[str, Any]]) -> None:
    """id, total, max, then one column per problem, one row per submission, sorted by id."""
    stream = io.StringIO()
    writer = csv.DictWriter(stream, fieldnames=["id", "total", "max", *(p.id for p in assignment.problems)],
                            lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows, key=lambda row: row["id"]):
        writer.writerow(row)
    write_atomically(path, stream.getvalue())
