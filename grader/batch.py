"""Grade a whole folder of submissions: discovery, caching, parallel runs, gradebook.

Each submission's results are written atomically as soon as it finishes, under a content hash of
the submission, the spec, the reference and the grader version; a re-run skips submissions whose
hash is unchanged, so a run killed half-way resumes where it stopped. Submissions are graded in
parallel threads (the work happens in their sandboxed worker processes); the gradebook is built
from the results files, so memory does not grow with the class.
"""

from __future__ import annotations

import csv
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
from typing import Any, Callable

from grader import __version__
from grader.errors import UsageError
from grader.execution import SandboxSession
from grader.expectations import ReferenceExpectations
from grader.gradescope import from_results_json, to_results_json
from grader.render import render_feedback, render_summary
from grader.results import GradeReport
from grader.runner import grade_submission
from grader.sandbox import Isolation, Sandbox
from grader.spec import Assignment
from grader.summary import RecordCollector, summarize

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


def assignment_hash(assignment: Assignment, extra: str = "") -> str:
    """What every result of a run depends on besides the submission: spec, reference, grader."""
    digest = hashlib.sha256(f"grader {__version__}\0{extra}\0".encode())
    for path in (assignment.source, assignment.reference_path, assignment.mistakes_path):
        if path is not None:
            _hash_tree(digest, path)
    _hash_tree(digest, Path(__file__).resolve().parent)
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
            if not self.enabled:
                return
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


def hidden_paths(assignment: Assignment, *extra: Path | None) -> list[Path]:
    """Folders a worker must never see: the instructor's files, the grader, data, outputs."""
    from grader import datasets

    paths = [assignment.source.parent, Path(__file__).resolve().parent, datasets.default_cache_dir()]
    for path in (assignment.reference_path, assignment.mistakes_path, *extra):
        if path is not None:
            paths.append(path.parent if path.is_file() else path)
    return sorted({path.resolve() for path in paths})


def grade_folder(
    run: GradingRun,
    submissions: Path,
    *,
    on_report: Callable[[Submission, GradeReport, bool], None] | None = None,
) -> list[dict[str, Any]]:
    """Grade every submission in a folder into ``run.out``; return the gradebook rows."""
    entries = discover(submissions)
    expectations = ReferenceExpectations(run.assignment, data_dir=run.data_dir)
    base = assignment_hash(run.assignment, extra=str(run.data_dir or ""))
    progress = Progress(len(entries), enabled=run.progress)
    hide = hidden_paths(run.assignment, submissions, run.out, run.data_dir)
    records = RecordCollector() if run.html else None
    with Sandbox(isolation=run.isolation, hide=hide) as sandbox:
        notes = (sandbox.info.describe(),)

        def grade_one(submission: Submission) -> dict[str, Any]:
            key = submission_hash(submission, base)
            results_path = run.out / submission.id / "results.json"
            report = None if run.force else cached_report(results_path, key)
            cached = report is not None
            if report is None:
                with unpacked(submission) as folder:
                    report = grade_submission(
                        run.assignment, folder, expectations=expectations, submission_id=submission.id,
                        session_factory=lambda path, deadline: SandboxSession(sandbox, path, deadline=deadline),
                        notes=notes,
                    )
                data = to_results_json(report)
                data["extra_data"]["cache_key"] = key
                write_atomically(results_path, json.dumps(data, indent=1))
            if records is not None:
                # Cached results too: the report is rendered from the GradeReport, not from a run.
                write_atomically(run.out / submission.id / "feedback.html", render_feedback(report, data_dir=run.data_dir))
                records.add(report)
            if on_report is not None:
                on_report(submission, report, cached)
            progress.update(report, cached=cached)
            return gradebook_row(report)

        with ThreadPoolExecutor(max_workers=max(1, run.workers)) as pool:
            rows = list(pool.map(grade_one, entries))
    write_gradebook(run.out / "gradebook.csv", run.assignment, rows)
    if records is not None:
        write_atomically(run.out / "index.html", render_summary(summarize(run.assignment.assignment, records.records)))
    return rows


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
