"""HTML feedback, class summary and terminal output, rendered from hand-made results.

Hostile strings stand for anything a student controls: printed output, exception messages and
tracebacks, returned values, even the submission's folder name. They must come out as text.
"""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from grader.reports.render import ENVIRONMENT, render_feedback, render_summary
from grader.results import (
    CaseResult,
    CheckResult,
    Comparison,
    Diagnosis,
    GradeReport,
    Outcome,
    ProblemResult,
)
from grader.reports.summary import SubmissionRecord, summarize
from grader.reports.terminal import print_report

HOSTILE = "<script>alert(1)</script>"
ATTRIBUTE = '" onmouseover="alert(2)'
TEMPLATES = Path(__file__).resolve().parents[2] / "grader" / "reports" / "templates"


# -- keyword factories ---------------------------------------------------------------------------


def make_comparison(**overrides: Any) -> Comparison:
    fields: dict[str, Any] = dict(
        path="", equal=False, reason="nan", mismatched=2, total=4, non_finite=1,
        message="2 of 4 values differ: 1 NaN where a number is expected; among the others largest absolute error 0.5 "
        "at (0, 1) (expected 1, got 1.5), largest relative error 0.5; tolerance rtol=1e-06, atol=1e-09",
        max_abs_error=0.5, max_rel_error=0.25, first=(("(0, 1)", 1.5, 1.0), ("(1, 0)", float("nan"), 2.0)),
        rtol=1e-6, atol=1e-9, heatmap=((0.0, 0.5), (-1.0, 0.1)),
    )
    return Comparison(**{**fields, **overrides})


def make_case(**overrides: Any) -> CaseResult:
    fields: dict[str, Any] = dict(
        case="small", public=True, outcome=Outcome.FAILED, message="2 of 4 values differ",
        inputs="x=[[1, 2], [3, 4]] shape=(2, 2)", expected="[[1, 1], [2, 2]]", obtained="[[1, 1.5], [nan, 2]]",
        comparisons=(make_comparison(),),
    )
    return CaseResult(**{**fields, **overrides})


def make_check(**overrides: Any) -> CheckResult:
    fields: dict[str, Any] = dict(
        name="values on the public cases", kind="value", weight=1.0, score=0.0, outcome=Outcome.FAILED,
        message="failed on 1 of 1 cases", cases=(make_case(),),
    )
    return CheckResult(**{**fields, **overrides})


def make_problem(**overrides: Any) -> ProblemResult:
    fields: dict[str, Any] = dict(problem="sigmoid", points=10.0, checks=(make_check(),))
    return ProblemResult(**{**fields, **overrides})


def make_report(**overrides: Any) -> GradeReport:
    fields: dict[str, Any] = dict(submission="ada", assignment="hw1", problems=(make_problem(),),
                                  notes=("Sandbox: no network.",))
    return GradeReport(**{**fields, **overrides})


def accuracy_check(**data: Any) -> CheckResult:
    confusion = [[0] * 10 for _ in range(10)]
    for digit in range(10):
        confusion[digit][digit] = 9
    confusion[7][1] = 1
    facts: dict[str, Any] = {
        "target": 0.985, "floor": 0.85, "images": 100, "split": "test", "range": [0, 100],
        "max_parameters": 1_000_000, "accuracy": 0.9, "parameters": 7850, "seconds": 0.5,
        "confusion": confusion, "per_class": [1.0] * 7 + [0.9, 1.0, 1.0],
        "misclassified": [{"index": 0, "label": 7, "predicted": 1}, {"index": 1, "label": 2, "predicted": 3}],
    }
    return CheckResult(name="accuracy on MNIST", kind="accuracy", weight=1.0, score=0.4, outcome=Outcome.FAILED,
                       message="accuracy 90.00% on 100 images", data={**facts, **data})


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text, of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    return parser


def external_references(html: str) -> list[str]:
    """Every resource or link that would leave the page: anything not inline, relative or a fragment."""
    found = []
    for tag, attrs in parse(html).tags:
        if tag in ("script", "link", "iframe", "object", "embed", "base"):
            found.append(tag)
        for name in ("src", "href", "srcset", "action", "poster", "data"):
            value = (attrs.get(name) or "").strip().lower()
            if value and (re.match(r"^[a-z][a-z0-9+.-]*:", value) and not value.startswith("data:image/")
                          or value.startswith("//")):
                found.append(f"{tag} {name}={value[:40]}")
    return found


# -- feedback ------------------------------------------------------------------------------------


def hostile_report() -> GradeReport:
    case = make_case(message=f"ValueError: {HOSTILE}", traceback=f'  File "hw1.py", line 3\nValueError: {HOSTILE}',
                     inputs=HOSTILE, expected=ATTRIBUTE, obtained=f"'{HOSTILE}'",
                     comparisons=(make_comparison(path=HOSTILE),))
    problem = make_problem(problem=HOSTILE, output=f"{HOSTILE}\n<b>bold</b>\n", message=HOSTILE,
                           checks=(make_check(name=HOSTILE, message=HOSTILE, cases=(case,)),),
                           diagnoses=(Diagnosis(mistake=HOSTILE, message=HOSTILE),))
    return make_report(submission=HOSTILE, problems=(problem,), notes=(HOSTILE,))


def test_hostile_strings_are_escaped() -> None:
    html = render_feedback(hostile_report())
    assert "<script" not in html.lower()
    assert "<b>bold" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert 'onmouseover="' not in html
    tags = parse(html).tags
    assert all(not any(name.startswith("on") for name in attrs) for _, attrs in tags)
    # The printed output, the traceback and the diagnosis all reached the page, as text.
    text = "".join(parse(html).text)
    assert text.count(HOSTILE) >= 8
    assert "Likely mistake:" in text


def test_environment_escapes_and_is_strict() -> None:
    assert ENVIRONMENT.autoescape("feedback.html.j2") is True
    assert ENVIRONMENT.from_string("{{ x }}").render(x=HOSTILE) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    with pytest.raises(Exception, match="undefined"):
        ENVIRONMENT.from_string("{{ missing }}").render()


def test_templates_never_mark_text_safe() -> None:
    for template in TEMPLATES.glob("*.html.j2"):
        source = template.read_text()
        assert not re.search(r"\|\s*safe\b", source), template.name
        assert "autoescape false" not in source, template.name


def test_report_is_self_contained() -> None:
    report = make_report(problems=(make_problem(), make_problem(problem="mnist", checks=(accuracy_check(),))))
    html = render_feedback(report)
    assert "http://" not in html and "https://" not in html
    assert "@import" not in html and "url(" not in html
    assert external_references(html) == []
    assert '<html lang="en">' in html
    assert "@media print" in html


def test_failed_public_case_shows_values_differences_and_tolerance() -> None:
    html = render_feedback(make_report())
    text = " ".join(" ".join(parse(html).text).split())
    assert "x=[[1, 2], [3, 4]] shape=(2, 2)" in text
    assert "2 of 4 values differ: 1 NaN where a number is expected" in text
    assert "largest absolute error 0.5" in text
    assert "relative error is |obtained − expected| / |expected|" in text
    assert "rtol=1e-06, atol=1e-09" in text
    assert "(0, 1)" in text and "NaN" in text
    # The heat map: one cell per pooled block, the non-finite one marked by text, not colour alone.
    assert html.count('title="NaN or inf"') == 1
    assert 'title="0.5"' in html
    assert '<th scope="col"' in html and '<th scope="row"' in html


def test_hidden_case_shows_message_and_hint_only() -> None:
    hidden = CaseResult(case="hidden_large", public=False, outcome=Outcome.FAILED,
                        message="wrong answer on a hidden case", hint="Can np.exp overflow?")
    report = make_report(problems=(make_problem(checks=(make_check(cases=(hidden,)),)),))
    html = render_feedback(report)
    text = " ".join(" ".join(parse(html).text).split())
    assert "hidden_large (hidden)" in text
    assert "wrong answer on a hidden case" in text
    assert "Hint: Can np.exp overflow?" in text
    assert "inputs and values are not shown" in text
    assert "Inputs" not in text and "Expected" not in text and "Where they differ" not in text


def test_diagnosis_is_said_in_plain_words() -> None:
    problem = make_problem(diagnoses=(Diagnosis(mistake="sign_flipped", message="You flipped the sign of x."),))
    text = " ".join(" ".join(parse(render_feedback(make_report(problems=(problem,)))).text).split())
    assert "Likely mistake: You flipped the sign of x." in text


def test_missing_function_says_it_once_with_the_traceback() -> None:
    case = make_case(outcome=Outcome.ERROR, message="NameError", comparisons=(), expected="", obtained="",
                     traceback='  File "hw1.py", line 1\nSyntaxError: invalid syntax')
    problem = make_problem(status="import_error", message="hw1.py does not import",
                           checks=(make_check(outcome=Outcome.ERROR, cases=(case,)),) * 2)
    html = render_feedback(make_report(problems=(problem,)))
    assert html.count("SyntaxError: invalid syntax") == 1
    assert "does not import" in html


def test_accuracy_section_shows_target_confusion_and_digits() -> None:
    report = make_report(problems=(make_problem(problem="mnist_accuracy", points=30, checks=(accuracy_check(),)),))
    html = render_feedback(report)
    text = " ".join(" ".join(parse(html).text).split())
    assert "90.00%" in text and "target 98.50%" in text and "85.00%" in text
    assert "Confusion matrix" in text and "Accuracy per digit" in text
    confusion = html[html.index('class="confusion"'):]
    confusion = confusion[:confusion.index("</table>")]
    assert confusion.count('<th scope="row">') == 10
    assert confusion.count('class="correct"') == 10
    images = [attrs for tag, attrs in parse(html).tags if tag == "img"]
    assert [attrs["alt"] for attrs in images] == ["digit labelled 7, predicted 1", "digit labelled 2, predicted 3"]
    assert all((attrs["src"] or "").startswith("data:image/png;base64,") for attrs in images)


def test_accuracy_without_predictions_shows_the_error() -> None:
    check = CheckResult(name="accuracy on MNIST", kind="accuracy", weight=1.0, score=0.0, outcome=Outcome.ERROR,
                        message="RuntimeError: shape mismatch",
                        data={"target": 0.985, "floor": 0.85, "images": 100, "split": "test", "range": [0, 100],
                              "max_parameters": 10, "accuracy": None, "traceback": f"RuntimeError: {HOSTILE}"})
    html = render_feedback(make_report(problems=(make_problem(checks=(check,)),)))
    assert "RuntimeError: &lt;script&gt;" in html
    assert "Confusion matrix" not in html


def test_check_mode_says_public_cases_only() -> None:
    html = render_feedback(make_report(mode="check"))
    assert "public cases" in html


# -- class summary -------------------------------------------------------------------------------


def class_reports() -> list[GradeReport]:
    passed = make_check(outcome=Outcome.PASSED, score=1.0, cases=())
    mistake = Diagnosis(mistake="sign_flipped", message="You flipped the sign.")
    crashed = make_check(outcome=Outcome.ERROR, message=f"ValueError: {HOSTILE}")
    return [
        make_report(submission="ada", problems=(make_problem(checks=(passed,)), make_problem(problem="b", checks=(passed,)))),
        make_report(submission="ben", problems=(make_problem(diagnoses=(mistake,)), make_problem(problem="b", checks=(passed,)))),
        make_report(submission="cy", problems=(make_problem(diagnoses=(mistake,)),
                                               make_problem(problem="b", checks=(crashed,)))),
        make_report(submission=f"{HOSTILE}x", problems=(make_problem(status="limit", message="time limit of 10 s exceeded",
                                                                       checks=(make_check(outcome=Outcome.TIMEOUT),)),
                                                          make_problem(problem="b", checks=(passed,)))),
    ]


def test_summary_counts() -> None:
    summary = summarize("hw1", [SubmissionRecord.from_report(report) for report in class_reports()])
    assert len(summary.submissions) == 4
    first, second = summary.problems
    assert (first.problem, first.passed, first.graded, first.crashed) == ("sigmoid", 1, 4, 1)
    assert [(m.mistake, m.count) for m in first.mistakes] == [("sign_flipped", 2)]
    assert (second.passed, second.crashed) == (3, 1)
    assert first.mean_score == pytest.approx(2.5)
    assert {(c.submission, c.problem, c.kind) for c in summary.crashes} == {
        ("cy", "b", "error"), (f"{HOSTILE}x", "sigmoid", "limit")}
    assert summary.full_marks == 1


def test_summary_page_links_every_report_and_escapes() -> None:
    summary = summarize("hw1", [SubmissionRecord.from_report(report) for report in class_reports()])
    html = render_summary(summary)
    assert "<script" not in html.lower()
    links = [attrs["href"] for tag, attrs in parse(html).tags if tag == "a" and not (attrs["href"] or "").startswith("#")]
    assert "ada/feedback.html" in links and "cy/feedback.html" in links
    # A hostile folder name is quoted into one relative path segment.
    assert "%3Cscript%3Ealert%281%29%3C%2Fscript%3Ex/feedback.html" in links
    assert external_references(html) == []
    assert "http://" not in html and "https://" not in html
    text = " ".join(" ".join(parse(html).text).split())
    assert "sign_flipped 2 You flipped the sign." in text
    assert "time limit of 10 s exceeded" in text
    images = [attrs for tag, attrs in parse(html).tags if tag == "img"]
    assert len(images) == 2 and all((a["src"] or "").startswith("data:image/svg+xml;base64,") and a["alt"] for a in images)


def test_summary_of_no_submissions() -> None:
    html = render_summary(summarize("hw1", []))
    assert "No submissions were graded." in html


# -- terminal ------------------------------------------------------------------------------------


def test_terminal_prints_table_as_plain_text_without_markup() -> None:
    stream = io.StringIO()
    console = Console(file=stream, width=120, force_terminal=False, highlight=False)
    markup = "[bold red]not markup[/]"
    problem = make_problem(checks=(make_check(message=markup),),
                           diagnoses=(Diagnosis(mistake="sign", message="You flipped the sign."),), output=markup)
    good = make_problem(problem="softmax", checks=(make_check(outcome=Outcome.PASSED, score=1.0, cases=()),))
    print_report(make_report(problems=(problem, good)), console=console)
    out = stream.getvalue()
    assert "\x1b[" not in out
    assert markup in out
    assert "✗" in out and "✓" in out
    assert "Likely mistake: You flipped the sign." in out
    assert "hw1 / ada: 10.00 / 20.00" in out


# -- grade_folder writes the pages ---------------------------------------------------------------


def test_grade_folder_writes_feedback_and_summary_even_when_cached(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.batch import run
    from grader.batch.executor import GradingRun
    from grader.batch.run import grade_folder
    from grader.spec import load_spec

    # The cache key hashes the grader's own files, which may change while the suite runs.
    monkeypatch.setattr(run, "assignment_hash", lambda assignment, extra="": "fixed")

    assignment = load_spec(Path(__file__).resolve().parents[1] / "data" / "sandbox" / "sandbox.yaml")
    submissions = tmp_path / "submissions"
    for sid, body in (("ada", "2 * x"), ("ben", "x + x + 1")):
        (submissions / sid).mkdir(parents=True)
        (submissions / sid / "attack.py").write_text(
            f"def double(x):\n    print('<script>document.title = 1</script>')\n    return {body}\n\n"
            "def honest_double(x):\n    return 2 * x\n")
        (submissions / sid / "honest.py").write_text("def double(x):\n    return 2 * x\n")
    out = tmp_path / "out"

    grade_folder(GradingRun(assignment=assignment, out=out, progress=False, html=False), submissions)
    assert (out / "ada" / "results.json").is_file()
    assert not (out / "ada" / "feedback.html").exists() and not (out / "index.html").exists()

    cached = []
    grade_folder(GradingRun(assignment=assignment, out=out, progress=False), submissions,
                 on_report=lambda submission, report, was_cached: cached.append(was_cached))
    assert cached == [True, True]
    for sid in ("ada", "ben"):
        html = (out / sid / "feedback.html").read_text()
        assert "&lt;script&gt;document.title = 1&lt;/script&gt;" in html
        assert "<script" not in html
    index = (out / "index.html").read_text()
    assert 'href="ada/feedback.html"' in index and 'href="ben/feedback.html"' in index


def test_a_part_is_labelled_as_the_spec_writes_it() -> None:
    from grader.reports.render import _comparison
    from grader.results import Comparison

    def label(path: str) -> str:
        return _comparison(Comparison(path=path, equal=False, reason="values"), "value")["part"]

    assert label("layer.dLdb") == "layer.dLdb" and label('config["velocity"]') == 'config["velocity"]'
    assert label("1.W1") == "output[1][W1]" and label("") == "the whole output"
