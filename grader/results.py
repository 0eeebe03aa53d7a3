"""The grader's results: small frozen records, from one compared value up to a whole report.

Data flows one way: checks produce ``CheckResult``s, the runner gathers them into
``ProblemResult``s and a ``GradeReport``; scoring, JSON, HTML and terminal output only read them.
Totals are derived properties, never stored twice. ``to_dict``/``from_dict`` give a lossless JSON
round trip (kept inside results.json's ``extra_data``), so a report written by one run can be read
back by another (resumed runs, Dask, the class summary).
"""

from __future__ import annotations

import dataclasses
import enum
import re
from dataclasses import dataclass, field
from typing import Any


class Outcome(str, enum.Enum):
    """How one check or case ended."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    TIMEOUT = "timeout"
    SKIPPED = "skipped"


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """How one part of an obtained value differs from the expected one."""

    path: str = ""
    """Which part of the output: '' the whole, '1' a tuple element, '1.W1' a dict entry."""
    equal: bool
    reason: str = ""
    """'type', 'shape', 'shape_only' (values right once dimensions of size 1 are dropped), 'values',
    'nan' (some obtained entries NaN or inf where a number is expected) or 'missing' when not equal."""
    message: str = ""
    mismatched: int = 0
    total: int = 0
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    """Largest |obtained - expected| / |expected| (``grader.compare.RELATIVE_ERROR``) over the wrong
    entries (over every entry when equal); None where no expected value exceeds atol."""
    non_finite: int = 0
    """Obtained entries that are NaN or inf where the expected value is finite."""
    first: tuple[tuple[str, float, float], ...] = ()
    """First offending entries: (index, obtained, expected)."""
    rtol: float = 0.0
    atol: float = 0.0
    heatmap: tuple[tuple[float, ...], ...] = ()
    """|obtained - expected| of a 2-D output, pooled to at most 16 x 16 cells."""


HIDDEN_PHRASES = frozenset({
    "wrong answer on a hidden case",
    "wrong shape on a hidden case",
    "raised an exception on a hidden case",
    "hit the time limit on a hidden case",
    "crashed on a hidden case",
    "returned a value that cannot be graded on a hidden case",
    "sent a malformed reply on a hidden case",
    "the function could not be called on a hidden case",
    "not run on a hidden case",
    "gradient wrong on a hidden case",
    "not stable or not right on a hidden case",
})
"""Everything a hidden case may say. A hidden case's text is built by the grader from these fixed
phrases (and the instructor's hint), never from anything the student's code produced: exception
messages, type names, printed output and decoder errors can all quote the hidden inputs."""
_HIDDEN_TEMPLATE = re.compile(r"property [a-z_]{1,40} violated on a hidden case")
"""The one phrase with a variable part: a property's name, from the spec's closed list."""
_HIDDEN_DETAILS = ("inputs", "steps", "expected", "obtained", "comparisons", "traceback")


def is_hidden_phrase(text: str) -> bool:
    """Whether ``text`` may be shown for a hidden case (see ``HIDDEN_PHRASES``)."""
    return text == "" or text in HIDDEN_PHRASES or _HIDDEN_TEMPLATE.fullmatch(text) is not None


@dataclass(frozen=True, kw_only=True)
class PartCredit:
    """How one part of a check's output (a read, a gradient, a returned element) fared on one case."""

    part: str
    credit: float
    """1 right; the spec's ``shape_credit`` for values right in a shape that differs by dimensions of
    size 1; 0 wrong."""
    trivial: bool = False
    """The reference's value is one an answer that knows nothing gives (all zeros, all ones, an input
    handed back, a flag): such a part earns only beside a right part that is not trivial."""


@dataclass(frozen=True, kw_only=True)
class CaseResult:
    """One check on one case. Hidden cases carry no inputs, values or comparisons, and their
    message is one of the grader's fixed phrases (checked when the record is built)."""

    case: str
    public: bool
    outcome: Outcome
    message: str = ""
    hint: str = ""
    inputs: str = ""
    steps: str = ""
    """For a scenario: its steps and reads as Python the student can run to reproduce the case."""
    expected: str = ""
    obtained: str = ""
    comparisons: tuple[Comparison, ...] = ()
    traceback: str = ""
    parts: tuple[PartCredit, ...] = ()
    """For a check scored part by part (value and gradient checks): each part's credit on this case."""

    def __post_init__(self) -> None:
        # The rule is checked here, where every case result is built, not trusted to each check kind.
        if not self.public:
            if not is_hidden_phrase(self.message):
                raise ValueError(f"a hidden case's message must be a fixed phrase, not {self.message[:80]!r}")
            if any(getattr(self, name) for name in _HIDDEN_DETAILS):
                raise ValueError("a hidden case carries no inputs, values, comparisons or traceback")

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASSED


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    """One check of a problem: its share of the points and why it passed or not."""

    name: str
    kind: str
    weight: float
    score: float
    """Fraction of the check's weight earned, from 0 to 1."""
    outcome: Outcome
    message: str = ""
    cases: tuple[CaseResult, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    """Kind-specific facts, JSON-safe (accuracy, confusion matrix, parameters...)."""

    @property
    def counted(self) -> bool:
        return self.outcome is not Outcome.SKIPPED


@dataclass(frozen=True, kw_only=True)
class Diagnosis:
    """A known mistake that the student's answers match on every case."""

    mistake: str
    message: str


@dataclass(frozen=True, kw_only=True)
class ProblemResult:
    """One graded function of a submission."""

    problem: str
    points: float
    checks: tuple[CheckResult, ...] = ()
    status: str = "graded"
    """'graded', or why nothing could run: 'missing', 'import_error', 'limit', 'skipped'."""
    message: str = ""
    diagnoses: tuple[Diagnosis, ...] = ()
    output: str = ""
    """What the student's code printed while this problem ran (bounded)."""
    wrong_answers: tuple[tuple[str, str], ...] = ()
    """(case, fingerprint) of each failing case when no declared mistake explains them
    (``grading.fingerprint``): the class summary groups equal wrong answers by it."""

    @property
    def score(self) -> float:
        counted = [check for check in self.checks if check.counted]
        total = sum(check.weight for check in counted)
        if not total:
            return 0.0
        return self.points * sum(check.weight * check.score for check in counted) / total

    @property
    def max_score(self) -> float:
        return self.points if any(check.counted for check in self.checks) or not self.checks else 0.0

    @property
    def passed(self) -> bool:
        return self.max_score > 0 and abs(self.score - self.max_score) < 1e-9

    @property
    def trouble(self) -> tuple[str, str]:
        """What kept the student's code from answering, and its message: ('', '') when it ran.
        The one definition behind every count of crashes, limits and missing functions
        (``TROUBLE_GROUPS``)."""
        if self.status in ("missing", "import_error", "limit"):
            return self.status, self.message
        for check in self.checks:
            if check.outcome in (Outcome.ERROR, Outcome.TIMEOUT):
                return check.outcome.value, self.message or check.message
        return "", ""

    @property
    def failure(self) -> str:
        """The first thing that went wrong, in one line."""
        if self.message:
            return self.message
        for check in self.checks:
            if check.counted and check.outcome is not Outcome.PASSED:
                return f"{check.name}: {check.message}"
        return ""


TROUBLE_GROUPS = {"import_error": "crash", "error": "crash", "limit": "limit", "timeout": "limit",
                  "missing": "missing"}
"""Each ``ProblemResult.trouble`` kind in one of three counts: the code crashed (did not import, or
raised), hit a limit (time, memory...), or the function is missing."""


def describe_troubles(kinds: Any) -> str:
    """'2 crashes, 1 limit, 3 missing': problems by trouble group, as the progress line and the class
    summary both say it (each counts problems of submissions, not submissions)."""
    counts = {"crash": 0, "limit": 0, "missing": 0}
    for kind in kinds:
        if kind:
            counts[TROUBLE_GROUPS[kind]] += 1
    return (f"{counts['crash']} crash{'es' if counts['crash'] != 1 else ''}, "
            f"{counts['limit']} limit{'s' if counts['limit'] != 1 else ''}, {counts['missing']} missing")


@dataclass(frozen=True, kw_only=True)
class GradeReport:
    """Everything about one submission; results.json and feedback are views of it."""

    submission: str
    assignment: str
    problems: tuple[ProblemResult, ...]
    execution_time: float = 0.0
    mode: str = "grade"
    """'grade' (public and hidden cases) or 'check' (public cases only)."""
    notes: tuple[str, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()
    """(package, version) of NumPy and torch as graded with, measured in the grader's process."""

    @property
    def score(self) -> float:
        return sum(problem.score for problem in self.problems)

    @property
    def max_score(self) -> float:
        return sum(problem.max_score for problem in self.problems)

    @property
    def passed(self) -> bool:
        return all(problem.passed for problem in self.problems if problem.max_score)


def to_dict(record: Any) -> Any:
    """A JSON-safe dict of any result record (enums as their values)."""
    if dataclasses.is_dataclass(record):
        return {f.name: to_dict(getattr(record, f.name)) for f in dataclasses.fields(record)}
    if isinstance(record, enum.Enum):
        return record.value
    if isinstance(record, (list, tuple)):
        return [to_dict(item) for item in record]
    if isinstance(record, dict):
        return {key: to_dict(value) for key, value in record.items()}
    return record


def _tuple(value: Any) -> Any:
    return tuple(_tuple(item) for item in value) if isinstance(value, list) else value


def comparison_from_dict(data: dict[str, Any]) -> Comparison:
    return Comparison(**{**data, "first": _tuple(data.get("first", [])), "heatmap": _tuple(data.get("heatmap", []))})


def case_from_dict(data: dict[str, Any]) -> CaseResult:
    if not data.get("public", True):
        # A results.json written before the rule (or forged) is read with its hidden cases cleaned.
        data = {**{key: value for key, value in data.items() if key not in _HIDDEN_DETAILS},
                "message": data.get("message", "") if is_hidden_phrase(str(data.get("message", "")))
                else "wrong answer on a hidden case"}
    return CaseResult(
        **{
            **data,
            "outcome": Outcome(data["outcome"]),
            "comparisons": tuple(comparison_from_dict(item) for item in data.get("comparisons", [])),
            "parts": tuple(PartCredit(**item) for item in data.get("parts", [])),
        }
    )


def check_from_dict(data: dict[str, Any]) -> CheckResult:
    return CheckResult(
        **{**data, "outcome": Outcome(data["outcome"]), "cases": tuple(case_from_dict(c) for c in data.get("cases", []))}
    )


def problem_from_dict(data: dict[str, Any]) -> ProblemResult:
    return ProblemResult(
        **{
            **data,
            "checks": tuple(check_from_dict(c) for c in data.get("checks", [])),
            "diagnoses": tuple(Diagnosis(**d) for d in data.get("diagnoses", [])),
            "wrong_answers": _tuple(data.get("wrong_answers", [])),
        }
    )


def report_from_dict(data: dict[str, Any]) -> GradeReport:
    return GradeReport(
        **{
            **data,
            "problems": tuple(problem_from_dict(p) for p in data["problems"]),
            "notes": tuple(data.get("notes", [])),
            "environment": _tuple(data.get("environment", [])),
        }
    )
