"""HTML feedback: the jinja2 environment, ``render_feedback(report)``, ``render_inline_feedback(report)``
(the same, as a fragment for a notebook's output) and ``render_summary(summary)``.

A report is rendered once, from a flat context of plain strings, numbers and lists derived here
from the results; the templates in ``grader/reports/templates/`` only lay it out (HTML lives only
there). Autoescaping is on for every template and nothing is marked safe, so whatever a student printed,
returned or raised shows as text. Pictures are inline ``data:`` URIs (see ``plots.py``): a report
is one file that needs no network.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from grader import __version__
from grader.errors import GraderError
from grader.reports import plots
from grader.reports.repeats import REPEATED, without_repeats
from grader.reports.summary import EXAMPLE_FIELDS, ClassSummary
from grader.results import CaseResult, CheckResult, Comparison, GradeReport, Outcome, ProblemResult, describe_troubles

OUTPUT_SHOWN = 20_000
"""Characters of a problem's captured output shown in the report (the sandbox bounds it too)."""
DIGITS_SHOWN = 6

ENVIRONMENT = Environment(
    loader=PackageLoader("grader.reports", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True, default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)

MARKS = {Outcome.PASSED: "✓", Outcome.FAILED: "✗", Outcome.ERROR: "✗", Outcome.TIMEOUT: "✗", Outcome.SKIPPED: "–"}
OUTCOME_LABELS = {Outcome.PASSED: "passed", Outcome.FAILED: "failed", Outcome.ERROR: "error",
                  Outcome.TIMEOUT: "timed out", Outcome.SKIPPED: "not run"}
STATUS_LABELS = {"missing": "missing", "import_error": "does not import", "limit": "stopped at a limit",
                 "skipped": "not run"}


def points(value: float) -> str:
    """A score for people: 8.33, 10, 0.5."""
    return f"{value:.2f}".rstrip("0").rstrip(".") or "0"


def number(value: float | None) -> str:
    if value is None:
        return "–"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.6g}"


def percent(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def _kind(status: str) -> str:
    """CSS class for a state: good, partial, bad, neutral."""
    return {"passed": "good", "partial": "partial", "skipped": "neutral"}.get(status, "bad")


# -- one submission ------------------------------------------------------------------------------


def _heatmap(comparison: Comparison) -> dict[str, Any] | None:
    if not comparison.heatmap:
        return None
    finite = [value for row in comparison.heatmap for value in row if value >= 0]
    largest = max(finite, default=0.0)
    rows = []
    for row in comparison.heatmap:
        cells = []
        for value in row:
            background, foreground = plots.heat_colours(value, largest)
            cells.append({"background": background, "foreground": foreground,
                          "label": "NaN or inf" if value < 0 else number(value), "finite": value >= 0})
        rows.append(cells)
    shown = len(comparison.heatmap) * len(comparison.heatmap[0])
    return {
        "rows": rows,
        "largest": number(largest),
        "pooled": comparison.total > shown,
        "non_finite": any(value < 0 for row in comparison.heatmap for value in row),
        "low": plots.heat_colours(0.0, 1.0)[0],
        "high": plots.heat_colours(1.0, 1.0)[0],
        "non_finite_colour": plots.NON_FINITE,
    }


TOLERANCE_RULES = {
    # How an entry is judged, by check kind: gradient checks follow torch.autograd.gradcheck.
    "gradient": "|obtained − expected| ≤ atol + rtol·|expected|",
}
DEFAULT_TOLERANCE_RULE = "|obtained − expected| ≤ max(rtol·|expected|, atol)"
RELATIVE_ERROR = "|obtained − expected| / |expected|, over the entries whose expected value exceeds atol in magnitude"
"""grader.compare.RELATIVE_ERROR, typeset."""


def _comparison(comparison: Comparison, kind: str) -> dict[str, Any]:
    return {
        # '1.W1' is entry W1 of element 1 of the returned tuple; a scenario's parts are named as its
        # reads are written (`layer.dLdb`, `config["velocity"]`), and shown so.
        "part": (comparison.path if comparison.path and not comparison.path.split(".")[0].isdigit()
                 else "output" + "".join(f"[{key}]" for key in comparison.path.split(".")) if comparison.path
                 else "the whole output"),
        "reason": comparison.reason,
        "message": comparison.message,
        "mismatched": comparison.mismatched,
        "total": comparison.total,
        "max_abs": number(comparison.max_abs_error),
        "max_rel": number(comparison.max_rel_error),
        "tolerance": f"rtol={comparison.rtol:g}, atol={comparison.atol:g}",
        "rule": TOLERANCE_RULES.get(kind, DEFAULT_TOLERANCE_RULE),
        "relative": RELATIVE_ERROR,
        "first": [
            {"index": index, "obtained": number(got),
             "expected": number(want), "difference": number(abs(got - want))}
            for index, got, want in comparison.first
        ],
        "heatmap": _heatmap(comparison),
    }


def _case(case: CaseResult, kind: str) -> dict[str, Any]:
    return {
        "name": case.case,
        "public": case.public,
        "outcome": OUTCOME_LABELS[case.outcome],
        "message": case.message,
        "hint": case.hint,
        "inputs": case.inputs,
        "steps": case.steps,
        "expected": case.expected,
        "obtained": case.obtained,
        "comparisons": [_comparison(c, kind) for c in case.comparisons if not c.equal],
        "traceback": case.traceback,
    }


def _digits(data: dict[str, Any], data_dir: Path | None) -> tuple[list[dict[str, Any]], str]:
    """The first misclassified digits as inline PNGs, read from MNIST here in the trusted process."""
    wrong = list(data.get("misclassified") or [])[:DIGITS_SHOWN]
    if not wrong:
        return [], ""
    from grader.datasets import load_mnist

    try:
        images = load_mnist(str(data.get("split", "test")), data_dir)[0]
        pictures = [plots.digit_png(images[int(item["index"])]) for item in wrong]
    except (GraderError, OSError, IndexError, ValueError) as error:
        return [], f"The images could not be loaded ({error})."
    return [
        {"index": item["index"], "label": item["label"], "predicted": item["predicted"], "src": src,
         "alt": f"digit labelled {item['label']}, predicted {item['predicted']}"}
        for item, src in zip(wrong, pictures)
    ], ""


def _accuracy(check: CheckResult, data_dir: Path | None) -> dict[str, Any]:
    data = check.data
    confusion = data.get("confusion") or []
    # Mistakes are what teaches: off-diagonal cells are shaded against the largest confusion,
    # in their own hue, so that a handful of 7s read as 1s stands out next to 500 right answers.
    confused = max((count for i, row in enumerate(confusion) for j, count in enumerate(row) if i != j), default=0)
    per_class = data.get("per_class") or []
    rows = []
    for label, row in enumerate(confusion):
        cells = []
        for predicted, count in enumerate(row):
            if label == predicted:
                background, foreground = plots.scale_colours(count / sum(row) if sum(row) else 0.0)
            else:
                background, foreground = plots.scale_colours(count / confused if confused else 0.0, "Oranges")
            cells.append({"count": count, "background": background, "foreground": foreground,
                          "correct": label == predicted})
        share = per_class[label] if label < len(per_class) else None
        rows.append({"label": label, "cells": cells, "total": sum(row), "accuracy": percent(share, 1),
                     "percent": 100 * share if share is not None else 0.0})
    digits, digits_note = _digits(data, data_dir)
    accuracy = data.get("accuracy")
    target = float(data.get("target", 0.0))
    span = data.get("range") or []
    floor = float(data.get("floor", 0.0))
    # The bar starts a little below the floor (or the accuracy, if lower), so that the stretch
    # between floor and target, where the credit is decided, is wide enough to see.
    low = max(0.0, 10 * math.floor((min(floor, accuracy if accuracy is not None else 0.0) * 100 - 5) / 10))

    def position(value: float) -> float:
        return min(100.0, max(0.0, (100 * value - low) / (100 - low) * 100)) if low < 100 else 100.0

    return {
        "accuracy": percent(accuracy),
        "target": percent(target),
        "floor": percent(data.get("floor")),
        "scale_low": f"{low:.0f}%",
        "fill_at": position(accuracy) if accuracy is not None else 0.0,
        "floor_at": position(floor),
        "target_at": position(target),
        "reached": accuracy is not None and accuracy >= target,
        "images": data.get("images", 0),
        "split": data.get("split", ""),
        "range": f"{span[0]}–{span[1] - 1}" if len(span) == 2 else "",
        "parameters": f"{data['parameters']:,}" if data.get("parameters") is not None else "–",
        "max_parameters": f"{data['max_parameters']:,}" if data.get("max_parameters") is not None else "–",
        "retrained": percent(data["retrained_accuracy"]) if data.get("retrained_accuracy") is not None else "",
        "confusion": rows,
        "digits": digits,
        "digits_note": digits_note,
        "traceback": data.get("traceback") or "",
    }


def _check(check: CheckResult, data_dir: Path | None, shown: list[tuple[CaseResult, bool]]) -> dict[str, Any]:
    """A check for the template; ``shown``: its failed cases as ``repeats.without_repeats`` trimmed them."""
    failed = [case for case in check.cases if not case.passed]
    state = ("passed" if check.outcome is Outcome.PASSED else
             "skipped" if check.outcome is Outcome.SKIPPED else "failed")
    return {
        "name": check.name,
        "kind": check.kind,
        "outcome": OUTCOME_LABELS[check.outcome],
        "mark": MARKS[check.outcome],
        "state": state,
        "kind_class": _kind(state),
        # Failed checks get a section of their own; so does the accuracy check, whose facts
        # (confusion matrix, misclassified digits) teach something even when it passed.
        "detailed": state == "failed" or (check.kind == "accuracy" and state != "skipped"),
        "message": check.message,
        "score": percent(check.score, 0) if check.counted else "",
        "cases_passed": len(check.cases) - len(failed),
        "cases_total": len(check.cases),
        "failed_cases": [{**_case(case, check.kind), "repeated": REPEATED if repeated else ""} for case, repeated in shown],
        "accuracy": _accuracy(check, data_dir) if check.kind == "accuracy" else None,
    }


def _problem_state(problem: ProblemResult) -> str:
    if problem.status != "graded" and problem.status in STATUS_LABELS:
        return "skipped" if problem.status == "skipped" else "failed"
    if not problem.max_score:
        return "skipped"
    if problem.passed:
        return "passed"
    return "partial" if problem.score > 0 else "failed"


def _traceback(problem: ProblemResult) -> str:
    """The first traceback of a problem whose every check failed for the same reason."""
    return next((case.traceback for check in problem.checks for case in check.cases if case.traceback), "")


def _import_errors(report: GradeReport) -> list[dict[str, Any]]:
    """Each distinct import failure, with the problems it took down."""
    found: dict[tuple[str, str], list[str]] = {}
    for problem in report.problems:
        if problem.status == "import_error":
            found.setdefault((problem.message, _traceback(problem)), []).append(problem.problem)
    return [{"message": message, "traceback": traceback, "problems": problems}
            for (message, traceback), problems in found.items()]


def _problem(problem: ProblemResult, index: int, data_dir: Path | None) -> dict[str, Any]:
    state = _problem_state(problem)
    broken = problem.status in ("missing", "import_error")
    output = problem.output
    return {
        "anchor": f"problem-{index}",
        "name": problem.problem,
        "score": points(problem.score),
        "max_score": points(problem.max_score),
        "percent": 100 * problem.score / problem.max_score if problem.max_score else 0.0,
        "state": state,
        "kind": _kind(state),
        "mark": {"passed": "✓", "partial": "◐", "failed": "✗", "skipped": "–"}[state],
        "label": STATUS_LABELS.get(problem.status) or {"passed": "full marks", "partial": "partial credit",
                                                       "failed": "no credit", "skipped": "not scored"}[state],
        "message": problem.message,
        "failure": problem.failure,
        "diagnoses": [{"mistake": d.mistake, "message": d.message} for d in problem.diagnoses],
        "broken": broken,
        "import_error": problem.status == "import_error",
        # A module that does not import fails every problem alike: its traceback is shown once, on top.
        "traceback": _traceback(problem) if problem.status == "missing" else "",
        "checks": [_check(check, None if broken else data_dir, shown)
                   for check, shown in zip(problem.checks, without_repeats(problem.checks))],
        "output": output[:OUTPUT_SHOWN],
        "output_cut": max(0, len(output) - OUTPUT_SHOWN),
    }


def feedback_context(report: GradeReport, *, data_dir: Path | None = None) -> dict[str, Any]:
    """The flat template context of one submission's report."""
    problems = [_problem(problem, index, data_dir) for index, problem in enumerate(report.problems, 1)]
    return {
        "title": f"{report.assignment} feedback for {report.submission}",
        "assignment": report.assignment,
        "submission": report.submission,
        "check_mode": report.mode == "check",
        "score": points(report.score),
        "max_score": points(report.max_score),
        "percent": 100 * report.score / report.max_score if report.max_score else 0.0,
        "passed": report.passed,
        "full_marks": sum(1 for problem in problems if problem["state"] == "passed"),
        "problems": problems,
        "import_errors": _import_errors(report),
        "notes": list(report.notes),
        "execution_time": f"{report.execution_time:.1f} s",
        "version": __version__,
    }


FRAGMENT_SCOPE = ".grader-feedback"
"""The class of the <div> that holds inline feedback; its stylesheet applies only inside it."""


def scoped_css(css: str, scope: str = FRAGMENT_SCOPE) -> str:
    """The reports' stylesheet restricted to ``scope``: every selector prefixed (``:root``, ``html`` and
    ``body`` become the scope itself), inside ``@media`` blocks too; other at-rules are dropped."""
    out: list[str] = []
    position = 0
    while True:
        opening = css.find("{", position)
        if opening < 0:
            break
        prelude = css[position:opening].strip()
        depth, cursor = 1, opening + 1
        while depth and cursor < len(css):
            depth += {"{": 1, "}": -1}.get(css[cursor], 0)
            cursor += 1
        body = css[opening + 1:cursor - 1]
        if prelude.startswith("@media"):
            out.append(f"{prelude} {{\n{scoped_css(body, scope)}}}")
        elif not prelude.startswith("@"):
            selectors = []
            for selector in prelude.split(","):
                selector = selector.strip()
                head, _, rest = selector.partition(" ")
                selectors.append(f"{scope} {rest}".strip() if head in (":root", "html", "body")
                                 else f"{scope} {selector}")
            out.append(f"{', '.join(selectors)} {{{body}}}")
        position = cursor
    return "\n".join(out) + "\n"


def render_inline_feedback(report: GradeReport, *, checked: str, saved: str = "",
                           data_dir: Path | None = None) -> str:
    """One submission's feedback as an HTML fragment for a notebook's output (``_repr_html_``):
    what ``render_feedback`` shows, with the file that was checked and when it was saved."""
    context = {**feedback_context(report, data_dir=data_dir), "checked": checked, "saved": saved}
    return ENVIRONMENT.get_template("notebook.html.j2").render(context)


ENVIRONMENT.filters["scoped_css"] = scoped_css


def render_feedback(report: GradeReport, *, data_dir: Path | None = None) -> str:
    """One submission's feedback as a self-contained HTML page.

    ``data_dir`` is where MNIST is read from for the pictures of misclassified digits (the default
    search order of ``datasets.load_mnist`` when None).
    """
    return ENVIRONMENT.get_template("feedback.html.j2").render(feedback_context(report, data_dir=data_dir))


# -- the class -----------------------------------------------------------------------------------


def summary_context(summary: ClassSummary) -> dict[str, Any]:
    """The flat template context of a class summary."""
    problems = summary.problems
    scores = [record.percent for record in summary.submissions]
    return {
        "title": f"{summary.assignment}: class summary",
        "assignment": summary.assignment,
        "count": len(summary.submissions),
        "max_score": points(summary.max_score),
        "mean_score": points(summary.mean_score),
        "median_score": points(summary.median_score),
        "full_marks": summary.full_marks,
        "histogram": plots.score_histogram(scores) if scores else "",
        "histogram_alt": _histogram_alt(scores),
        "chart": plots.problem_chart([p.problem for p in problems], [p.mean_percent for p in problems],
                                     [p.pass_percent for p in problems]) if problems else "",
        "chart_alt": "Per problem, mean score and share of full marks: " + "; ".join(
            f"{p.problem} {p.mean_percent:.0f}% mean, {p.pass_percent:.0f}% full marks" for p in problems),
        "problems": [
            {"name": p.problem, "max_score": points(p.max_score), "mean_score": points(p.mean_score),
             "mean_percent": f"{p.mean_percent:.0f}%", "passed": p.passed, "graded": p.graded,
             "pass_percent": f"{p.pass_percent:.0f}%", "crashed": p.crashed,
             "mistakes": [{"mistake": m.mistake, "message": m.message, "count": m.count} for m in p.mistakes]}
            for p in problems
        ],
        "troubles": describe_troubles(c.kind for c in summary.crashes),
        "crashes": [
            {"submission": c.submission, "href": _feedback_href(c.submission), "problem": c.problem,
             "kind": {"import_error": "does not import", "limit": "hit a limit", "missing": "missing",
                      "error": "raised an error", "timeout": "timed out"}.get(c.kind, c.kind), "message": c.message}
            for c in summary.crashes
        ],
        "clusters": [
            {"problem": c.problem, "count": c.count, "representative": c.representative,
             "href": _feedback_href(c.representative), "others": list(c.submissions[1:]),
             "cases": ", ".join(c.cases), "example": dict(zip(EXAMPLE_FIELDS, c.example))}
            for p in problems for c in p.clusters
        ],
        "environments": list(summary.environments),
        "submissions": [
            {"id": record.submission, "href": _feedback_href(record.submission), "score": points(record.score),
             "max_score": points(record.max_score), "percent": f"{record.percent:.0f}%",
             "full_marks": sum(1 for p in record.problems if p.passed), "problems": len(record.problems),
             "crashed": sum(1 for p in record.problems if p.crash)}
            for record in summary.submissions
        ],
        "version": __version__,
    }


def _histogram_alt(scores: list[float]) -> str:
    """The histogram in words: how many submissions fall in each non-empty tenth of the scale."""
    bins = [0] * 10
    for score in scores:
        bins[min(9, max(0, int(score // 10)))] += 1
    parts = [f"{10 * i}-{10 * i + 10}%: {count}" for i, count in enumerate(bins) if count]
    return "Histogram of total scores in percent of the maximum. " + ", ".join(parts)


def _feedback_href(submission: str) -> str:
    # Submission ids are folder names chosen by students: quote everything, so an id can never
    # become a scheme (javascript:) or leave its folder.
    return f"{quote(submission, safe='')}/feedback.html"


def render_summary(summary: ClassSummary) -> str:
    """The class summary as a self-contained HTML page that links to every feedback.html."""
    return ENVIRONMENT.get_template("summary.html.j2").render(summary_context(summary))
