"""Export a graded class to a learning management system: Canvas or Moodle gradebook CSV.

Grades are read from a ``grader grade`` output folder: every ``<id>/results.json`` (through
``grader.reports.gradescope.from_results_json``), or, when there is none, its ``gradebook.csv``. The
submission id (the folder or zip name of the submission) identifies the student.

Conventions followed:

- **Canvas** (Grades > Import): the layout of Canvas's own gradebook export, which its importer
  reads back. Header ``Student,ID,SIS User ID,SIS Login ID,Section,<Assignment name> (<assignment
  id>)``; the second row is ``    Points Possible`` (in the Student column, padded with four spaces
  as Canvas writes it) with the assignment's points; then one row per student. Canvas matches rows
  on ``ID`` (its user id), ``SIS User ID`` or ``SIS Login ID``: the submission id goes into the
  column chosen with ``--canvas-key`` (default ``SIS Login ID``, the login people name their
  submissions by) and into ``Student`` for display; the other identity columns stay empty. Without
  ``--canvas-id`` the assignment column is just the name, and Canvas creates a new assignment on
  import.
- **Moodle** (Grade administration > Import > CSV file): a header row and one row per student;
  the importer asks which column identifies users (``Map from``/``Map to``: username, email
  address or ID number) and which column feeds which grade item. Columns: the identifier (header
  ``--moodle-identifier``, default ``Username``, holding the submission id) and the grade item
  (header: the assignment name). Points use a dot as decimal separator, as Moodle's importer wants.

Scores are points (the total of ``grader grade``, hidden cases included), at most two decimals.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from grader.errors import UsageError
from grader.reports.gradescope import from_results_json

LmsFormat = Literal["canvas", "moodle"]
CANVAS_KEYS = ("ID", "SIS User ID", "SIS Login ID")
CANVAS_POINTS_POSSIBLE = "    Points Possible"


@dataclass(frozen=True, kw_only=True)
class Grade:
    """One submission's total."""

    submission: str
    score: float
    max_score: float


@dataclass(frozen=True, kw_only=True)
class ClassGrades:
    """Every submission's total for one assignment."""

    assignment: str
    grades: tuple[Grade, ...]

    @property
    def points_possible(self) -> float:
        return max((grade.max_score for grade in self.grades), default=0.0)


def read_grades(folder: Path) -> ClassGrades:
    """Totals from ``folder/<id>/results.json``, else from ``folder/gradebook.csv`` (or that file itself).

    Raises:
        UsageError: nothing graded is there, or it mixes assignments.
    """
    if folder.is_file():
        return _from_gradebook(folder, assignment=folder.parent.name)
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a grading output folder")
    results = sorted(folder.glob("*/results.json"))
    if not results:
        if (folder / "gradebook.csv").is_file():
            return _from_gradebook(folder / "gradebook.csv", assignment=folder.name)
        raise UsageError(f"{folder} holds no <id>/results.json and no gradebook.csv: run `grader grade` first")
    grades, assignments = [], set()
    for path in results:
        try:
            report = from_results_json(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError) as error:
            raise UsageError(f"{path} is not a results.json written by the grader: {error}") from None
        assignments.add(report.assignment)
        grades.append(Grade(submission=report.submission, score=report.score, max_score=report.max_score))
    if len(assignments) > 1:
        raise UsageError(f"{folder} mixes assignments {sorted(assignments)}; export one at a time")
    return ClassGrades(assignment=assignments.pop(), grades=tuple(sorted(grades, key=lambda g: g.submission)))


def _from_gradebook(path: Path, *, assignment: str) -> ClassGrades:
    with path.open(newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    try:
        grades = [Grade(submission=row["id"], score=float(row["total"]), max_score=float(row["max"])) for row in rows]
    except (KeyError, ValueError) as error:
        raise UsageError(f"{path} is not a gradebook.csv written by the grader: {error}") from None
    return ClassGrades(assignment=assignment, grades=tuple(sorted(grades, key=lambda g: g.submission)))


def _points(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def canvas_csv(grades: ClassGrades, *, name: str | None = None, canvas_id: str | None = None,
               key: str = "SIS Login ID") -> str:
    """The Canvas gradebook import file."""
    if key not in CANVAS_KEYS:
        raise UsageError(f"--canvas-key must be one of {', '.join(CANVAS_KEYS)}, got {key!r}")
    column = name or grades.assignment
    if canvas_id:
        column = f"{column} ({canvas_id})"
    header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column]
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(header)
    writer.writerow([CANVAS_POINTS_POSSIBLE, "", "", "", "", _points(grades.points_possible)])
    for grade in grades.grades:
        row = {"Student": grade.submission, "ID": "", "SIS User ID": "", "SIS Login ID": "", "Section": ""}
        row[key] = grade.submission
        writer.writerow([*row.values(), _points(grade.score)])
    return stream.getvalue()


def moodle_csv(grades: ClassGrades, *, name: str | None = None, identifier: str = "Username") -> str:
    """The Moodle grade import file."""
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([identifier, name or grades.assignment])
    for grade in grades.grades:
        writer.writerow([grade.submission, _points(grade.score)])
    return stream.getvalue()


def export_grades(folder: Path, fmt: LmsFormat, *, out: Path | None = None, name: str | None = None,
                  canvas_id: str | None = None, canvas_key: str = "SIS Login ID",
                  moodle_identifier: str = "Username") -> Path:
    """Write the LMS file for a graded folder; returns its path (default ``folder/<fmt>.csv``)."""
    grades = read_grades(folder)
    if fmt == "canvas":
        text = canvas_csv(grades, name=name, canvas_id=canvas_id, key=canvas_key)
    elif fmt == "moodle":
        text = moodle_csv(grades, name=name, identifier=moodle_identifier)
    else:
        raise UsageError(f"unknown LMS format {fmt!r}; use canvas or moodle")
    target = out or (folder if folder.is_dir() else folder.parent) / f"{fmt}.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target
