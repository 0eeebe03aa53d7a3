"""Grade a whole folder of submissions: discovery, caching, parallel runs, gradebook.

Each submission's results are written atomically as soon as it finishes, under a content hash of
the submission, the spec, the reference and the grader version; a re-run skips submissions whose
hash is unchanged, so a run killed half-way resumes where it stopped. Submissions are graded in
parallel threads (the work happens in their sandboxed worker processes), or as tasks on a Dask
cluster (``grader.batch.dask``); either way the results come back here and are written, rendered
and counted by the same code. The gradebook is built from the results files, so memory does not
grow with the class.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from grader import __version__
from grader.errors import GraderError, UsageError
from grader.sandbox.session import SandboxSession
from grader.grading.expectations import ReferenceExpectations
from grader.reports.gradescope import from_results_json, to_results_json
from grader.reports.render import render_feedback, render_summary
from grader.results import GradeReport
from grader.grading.runner import grade_submission
from grader.sandbox.server import Isolation, Sandbox
from grader.spec import Assignment
from grader.reports.summary import RecordCollector, summarize

Executor = Literal["local", "dask"]

MAX_ZIP_BYTES = 64 * 1024 * 1024
MAX_ZIP_FILES = 500


@dataclass(frozen=True)
class Submission:
    """One student's work: a folder, or a .zip to unpack."""

    id: str
    path: Path

    @property
    def is_zip(self) -> bool:
        return self.path.suffix.lower() == ".zip"


def discover(folder: Path) -> list[Submission]:
    """Every subfolder and .zip of ``folder``, sorted by id (the folder or file name)."""
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder of submissions")
    found: dict[str, Submission] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        if entry.is_dir() or (entry.is_file() and entry.suffix.lower() == ".zip"):
            sid = entry.stem if entry.is_file() else entry.name
            if sid in found:
                raise UsageError(f"two submissions are called {sid!r} ({found[sid].path.name} and {entry.name})")
            found[sid] = Submission(sid, entry)
    return list(found.values())


@contextmanager
def unpacked(submission: Submission) -> Iterator[Path]:
    """The submission as a folder; a zip is unpacked safely (no paths outside, bounded size)."""
    if not submission.is_zip:
        yield submission.path
        return
    target = Path(tempfile.mkdtemp(prefix="grader-zip-"))
    try:
        try:
            with zipfile.ZipFile(submission.path) as archive:
                members = [m for m in archive.infolist() if not m.is_dir()][:MAX_ZIP_FILES]
                total = 0
                for member in members:
                    name = Path(member.filename)
                    if name.is_absolute() or ".." in name.parts or member.file_size > MAX_ZIP_BYTES:
                        continue
                    total += member.file_size
                    if total > MAX_ZIP_BYTES:
                        break
                    destination = target / name
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(member) as source, destination.open("wb") as sink:
                        shutil.copyfileobj(source, sink, MAX_ZIP_BYTES)
        except zipfile.BadZipFile:
            pass  # graded as an empty submission: every module is reported missing
        entries = [entry for entry in target.iterdir() if not entry.name.startswith((".", "__MACOSX"))]
        # A zip of a folder holds the files one level down.
        yield entries[0] if len(entries) == 1 and entries[0].is_dir() else target
    finally:
        shutil.rmtree(target, ignore_errors=True)


def _hash_tree(digest: Any, path: Path) -> None:
    if path.is_file():
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
        return
    for file in sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(file.relative_to(path)).encode() + b"\0" + file.read_bytes() + b"\0")


@functools.cache
def grader_digest() -> str:
    """Content hash of the installed grader package: its version, code, templates and data."""
    digest = hashlib.sha256(f"grader {__version__}\0".encode())
    _hash_tree(digest, Path(__file__).resolve().parents[1])
    return digest.hexdigest()


def assignment_hash(assignment: Assignment, extra: str = "") -> str:
    """What every result of a run depends on besides the submission: spec, reference, grader."""
    digest = hashlib.sha256(f"{grader_digest()}\0{extra}\0".encode())
    for path in (assignment.source, assignment.reference_path, assignment.mistakes_path):
        if path is not None:
            _hash_tree(digest, path)
    return digest.hexdigest()


def submission_hash(submission: Submission, base: str) -> str:
    digest = hashlib.sha256(base.encode())
    _hash_tree(digest, submission.path)
    return digest.hexdigest()


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


class Progress:
    """Submissions done, rate, time left and failures so far; silent when not a terminal."""

    def __init__(self, total: int, *, enabled: bool | None = None) -> None:
        self.total = total
        self.done = 0
        self.failures = 0
        self.cached = 0
        self.start = time.monotonic()
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._lock = threading.Lock()

    def update(self, report: GradeReport, *, cached: bool) -> None:
        with self._lock:
            self.done += 1
            self.cached += cached
            self.failures += any(p.status in ("import_error", "limit") for p in report.problems)
            self._show()

    def missed(self) -> None:
        """A submission that could not be graded (the machines' fault, not the student's)."""
        with self._lock:
            self.done += 1
            self._show()

    def _show(self) -> None:
        if self.enabled:
            elapsed = time.monotonic() - self.start
            rate = self.done / elapsed if elapsed > 0 else 0.0
            left = (self.total - self.done) / rate if rate > 0 else 0.0
            sys.stderr.write(
                f"\r{self.done}/{self.total} graded ({self.cached} unchanged), {rate:.1f}/s, "
                f"~{left:.0f} s left, {self.failures} crashed or hit a limit   "
            )
            if self.done == self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


@dataclass(frozen=True)
class GradingRun:
    """The settings of one ``grader grade`` run."""

    assignment: Assignment
    out: Path
    workers: int = 1
    isolation: Isolation = "auto"
    force: bool = False
    data_dir: Path | None = None
    progress: bool | None = None
    html: bool = True
    """Write each submission's feedback.html and the class summary index.html."""
    executor: Executor = "local"
    """``local``: threads on this machine; ``dask``: one Dask task per submission."""
    scheduler: str | None = None
    """Address of the Dask scheduler (``tcp://host:8786``); none starts a local Dask cluster."""


@dataclass(frozen=True)
class Pending:
    """A submission to grade, and the cache key its results will be written under."""

    submission: Submission
    key: str


Record = Callable[[Pending, GradeReport], None]
"""Called with each freshly graded submission's report, from whichever thread finished it."""


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


def hidden_paths(assignment: Assignment, *extra: Path | None) -> list[Path]:
    """Folders a worker must never see: the instructor's files, the grader, data, outputs."""
    from grader import datasets

    paths = [assignment.source.parent, Path(__file__).resolve().parents[1], datasets.default_cache_dir()]
    # The whole course repository the spec lives in: its .git holds every hidden file's history.
    for folder in assignment.source.resolve().parents:
        if (folder / ".git").exists():
            paths.append(folder)
            break
    for path in (assignment.reference_path, assignment.mistakes_path, *extra):
        if path is not None:
            paths.append(path.parent if path.is_file() else path)
    return sorted({path.resolve() for path in paths})


def grade_in_sandbox(
    assignment: Assignment, folder: Path, submission_id: str, *, expectations: Any, sandbox: Sandbox
) -> GradeReport:
    """Grade one unpacked submission in ``sandbox``: what a grading thread or a Dask task does."""
    return grade_submission(
        assignment, folder, expectations=expectations, submission_id=submission_id,
        session_factory=lambda path, deadline: SandboxSession(sandbox, path, deadline=deadline),
        notes=(sandbox.info.describe(),),
    )


def grade_locally(run: GradingRun, submissions: Path, pending: list[Pending], record: Record) -> dict[str, str]:
    """Grade ``pending`` in ``run.workers`` threads sharing one sandbox.

    Returns no failures: anything that goes wrong on this machine stops the run with its exception.
    """
    expectations = ReferenceExpectations(run.assignment, data_dir=run.data_dir)
    hide = hidden_paths(run.assignment, submissions, run.out, run.data_dir)
    with Sandbox(isolation=run.isolation, hide=hide) as sandbox:

        def grade_one(item: Pending) -> None:
            with unpacked(item.submission) as folder:
                report = grade_in_sandbox(run.assignment, folder, item.submission.id,
                                          expectations=expectations, sandbox=sandbox)
            record(item, report)

        with ThreadPoolExecutor(max_workers=max(1, run.workers)) as pool:
            list(pool.map(grade_one, pending))
    return {}


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
    progress = Progress(len(entries), enabled=run.progress)
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
    for submission in entries:
        key = submission_hash(submission, base)
        report = None if run.force else cached_report(run.out / submission.id / "results.json", key)
        if report is None:
            pending.append(Pending(submission, key))
        else:
            finish(submission, report, cached=True)
    failures: dict[str, str] = {}
    if pending and run.executor == "dask":
        from grader.batch.dask import grade_on_dask

        failures = grade_on_dask(run, submissions, pending, record)
    elif pending:
        failures = grade_locally(run, submissions, pending, record)
    for _ in failures:
        progress.missed()
    graded = [rows[submission.id] for submission in entries if submission.id in rows]
    write_gradebook(run.out / "gradebook.csv", run.assignment, graded)
    if records is not None:
        write_atomically(run.out / "index.html", render_summary(summarize(run.assignment.assignment, records.records)))
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
