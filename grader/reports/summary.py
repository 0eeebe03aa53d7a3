"""The class summary: small per-submission records, and the statistics of a whole class.

A ``SubmissionRecord`` keeps of a ``GradeReport`` only what the summary shows (scores, diagnosed
mistakes, crashes), so a batch run can collect one per submission without holding every report.
``summarize`` turns the records into a ``ClassSummary``; ``render.render_summary`` draws it.

Wrong-answer clusters: per problem, the submissions whose failing cases and wrong outputs are the
same (by the fingerprints of ``ProblemResult.wrong_answers``, robust to float noise) and that no
declared mistake explains, with one representative each; ``clusters_json`` is what
``grader lint --clusters`` checks a newly declared mistake against.
"""

from __future__ import annotations

import statistics
import threading
from collections import Counter
from dataclasses import dataclass

from grader.results import GradeReport, Outcome, ProblemResult

CRASH_STATUSES = ("import_error", "limit")
CRASH_OUTCOMES = (Outcome.ERROR, Outcome.TIMEOUT)
MISTAKES_SHOWN = 5
CLUSTER_MIN = 2
"""Submissions sharing a wrong answer before it is a cluster: one student's slip is not a pattern."""
CLUSTER_FORMAT = 1
EXAMPLE_FIELDS = ("case", "differs", "obtained", "expected")


@dataclass(frozen=True, kw_only=True)
class ProblemRecord:
    """One problem of one submission, as the summary sees it."""

    problem: str
    score: float
    max_score: float
    passed: bool
    status: str
    mistakes: tuple[tuple[str, str], ...] = ()
    """Diagnosed mistakes: (id, plain-words message)."""
    crash: str = ""
    """'' when the code ran; else 'import_error', 'limit', 'missing', 'error' or 'timeout'."""
    crash_message: str = ""
    wrong_answers: tuple[tuple[str, str], ...] = ()
    """(case, fingerprint) of the failing cases no declared mistake explains."""
    example: tuple[str, str, str, str] = ()
    """(case, how it differs, obtained, expected) of the first failing public case with values, if any."""


@dataclass(frozen=True, kw_only=True)
class SubmissionRecord:
    """One submission, as the summary sees it."""

    submission: str
    score: float
    max_score: float
    problems: tuple[ProblemRecord, ...]
    environment: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_report(cls, report: GradeReport) -> SubmissionRecord:
        return cls(
            submission=report.submission,
            score=report.score,
            max_score=report.max_score,
            problems=tuple(_problem_record(problem) for problem in report.problems),
            environment=report.environment,
        )

    @property
    def percent(self) -> float:
        return 100.0 * self.score / self.max_score if self.max_score else 0.0


def _crash(problem: ProblemResult) -> tuple[str, str]:
    if problem.status in CRASH_STATUSES:
        return problem.status, problem.message
    for check in problem.checks:
        if check.outcome in CRASH_OUTCOMES:
            # A missing function or module fails every check with an error: name it for what it is.
            kind = "missing" if problem.status == "missing" else check.outcome.value
            return kind, problem.message or check.message
    return "", ""


def _example(problem: ProblemResult) -> tuple[str, str, str, str]:
    failing = {case for case, _ in problem.wrong_answers}
    for check in problem.checks:
        for case in check.cases:
            if case.case in failing and case.public and case.obtained and case.expected:
                # A value check's message is the grader's own comparison (no text of the student's).
                how = case.message if case.outcome is Outcome.FAILED else ""
                return case.case, how, case.obtained, case.expected
    return ()


def _problem_record(problem: ProblemResult) -> ProblemRecord:
    crash, message = _crash(problem)
    return ProblemRecord(
        problem=problem.problem,
        score=problem.score,
        max_score=problem.max_score,
        passed=problem.passed,
        status=problem.status,
        mistakes=tuple((d.mistake, d.message) for d in problem.diagnoses),
        crash=crash,
        crash_message=message,
        wrong_answers=problem.wrong_answers,
        example=_example(problem) if problem.wrong_answers else (),
    )


class RecordCollector:
    """Gathers records from grading threads; keeps records, never reports."""

    def __init__(self) -> None:
        self._records: list[SubmissionRecord] = []
        self._lock = threading.Lock()

    def add(self, report: GradeReport) -> None:
        record = SubmissionRecord.from_report(report)
        with self._lock:
            self._records.append(record)

    @property
    def records(self) -> list[SubmissionRecord]:
        with self._lock:
            return sorted(self._records, key=lambda record: record.submission)


@dataclass(frozen=True, kw_only=True)
class MistakeCount:
    mistake: str
    message: str
    count: int


@dataclass(frozen=True, kw_only=True)
class Cluster:
    """Submissions of one problem with the same wrong answers, which no declared mistake explains."""

    problem: str
    submissions: tuple[str, ...]
    wrong_answers: tuple[tuple[str, str], ...]
    """(case, fingerprint) shared by every submission of the cluster."""
    example: tuple[str, str, str, str] = ()
    """The representative's (case, how it differs, obtained, expected) on one public case, if any."""

    @property
    def count(self) -> int:
        return len(self.submissions)

    @property
    def representative(self) -> str:
        return self.submissions[0]

    @property
    def cases(self) -> tuple[str, ...]:
        return tuple(case for case, _ in self.wrong_answers)


@dataclass(frozen=True, kw_only=True)
class ProblemSummary:
    """One problem across the class."""

    problem: str
    max_score: float
    mean_score: float
    passed: int
    graded: int
    """Submissions in which this problem counted (it has points)."""
    crashed: int
    mistakes: tuple[MistakeCount, ...]
    """The most frequent diagnosed mistakes, most frequent first."""
    clusters: tuple[Cluster, ...] = ()
    """Undeclared wrong answers shared by at least ``CLUSTER_MIN`` submissions, largest first."""

    @property
    def mean_percent(self) -> float:
        return 100.0 * self.mean_score / self.max_score if self.max_score else 0.0

    @property
    def pass_percent(self) -> float:
        return 100.0 * self.passed / self.graded if self.graded else 0.0


@dataclass(frozen=True, kw_only=True)
class Crash:
    """A problem of a submission that crashed or hit a limit."""

    submission: str
    problem: str
    kind: str
    message: str


@dataclass(frozen=True, kw_only=True)
class ClassSummary:
    """Statistics of one assignment over every graded submission."""

    assignment: str
    submissions: tuple[SubmissionRecord, ...]
    problems: tuple[ProblemSummary, ...]
    crashes: tuple[Crash, ...]

    @property
    def environments(self) -> tuple[str, ...]:
        """The NumPy and torch versions the class was graded with, one line per distinct pair."""
        seen = {record.environment for record in self.submissions if record.environment}
        labels = {"numpy": "NumPy"}
        return tuple(sorted(" and ".join(f"{labels.get(name, name)} {version}" for name, version in pair)
                            for pair in seen))

    @property
    def max_score(self) -> float:
        return max((record.max_score for record in self.submissions), default=0.0)

    @property
    def mean_score(self) -> float:
        return statistics.fmean(record.score for record in self.submissions) if self.submissions else 0.0

    @property
    def median_score(self) -> float:
        return statistics.median(record.score for record in self.submissions) if self.submissions else 0.0

    @property
    def full_marks(self) -> int:
        return sum(1 for record in self.submissions if record.max_score and record.score >= record.max_score - 1e-9)


def summarize(assignment: str, records: list[SubmissionRecord]) -> ClassSummary:
    """The class statistics of ``records``, problems in the order the submissions list them."""
    order: dict[str, list[ProblemRecord]] = {}
    crashes = []
    for record in sorted(records, key=lambda record: record.submission):
        for problem in record.problems:
            order.setdefault(problem.problem, []).append(problem)
            if problem.crash:
                crashes.append(Crash(submission=record.submission, problem=problem.problem, kind=problem.crash,
                                     message=problem.crash_message))
    problems = []
    for name, results in order.items():
        counted = [result for result in results if result.max_score]
        counts = Counter(mistake for result in results for mistake, _ in result.mistakes)
        messages = {mistake: message for result in results for mistake, message in result.mistakes}
        problems.append(ProblemSummary(
            problem=name,
            max_score=max((result.max_score for result in results), default=0.0),
            mean_score=statistics.fmean(result.score for result in counted) if counted else 0.0,
            passed=sum(1 for result in counted if result.passed),
            graded=len(counted),
            crashed=sum(1 for result in results if result.crash),
            mistakes=tuple(MistakeCount(mistake=mistake, message=messages[mistake], count=count)
                           for mistake, count in counts.most_common(MISTAKES_SHOWN)),
            clusters=_clusters(name, [(record.submission, problem) for record in records
                                      for problem in record.problems if problem.problem == name]),
        ))
    return ClassSummary(assignment=assignment, submissions=tuple(sorted(records, key=lambda r: r.submission)),
                        problems=tuple(problems), crashes=tuple(crashes))


def _clusters(problem: str, results: list[tuple[str, ProblemRecord]]) -> tuple[Cluster, ...]:
    groups: dict[tuple[tuple[str, str], ...], list[tuple[str, ProblemRecord]]] = {}
    for submission, result in sorted(results, key=lambda item: item[0]):
        if result.wrong_answers and not result.mistakes:
            groups.setdefault(result.wrong_answers, []).append((submission, result))
    clusters = [
        Cluster(problem=problem, submissions=tuple(s for s, _ in members), wrong_answers=key,
                example=next((r.example for _, r in members if r.example), ()))
        for key, members in groups.items() if len(members) >= CLUSTER_MIN
    ]
    return tuple(sorted(clusters, key=lambda cluster: (-cluster.count, cluster.representative)))


def clusters_json(summary: ClassSummary) -> dict[str, object]:
    """clusters.json: every cluster with what ``grader lint --clusters`` needs to check it."""
    return {
        "format": CLUSTER_FORMAT,
        "assignment": summary.assignment,
        "environment": list(summary.environments),
        "clusters": [
            {
                "problem": cluster.problem,
                "count": cluster.count,
                "representative": cluster.representative,
                "submissions": list(cluster.submissions),
                "wrong_answers": [{"case": case, "fingerprint": print_} for case, print_ in cluster.wrong_answers],
                "example": dict(zip(EXAMPLE_FIELDS, cluster.example)),
            }
            for problem in summary.problems for cluster in problem.clusters
        ],
    }
