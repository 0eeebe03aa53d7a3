"""The notebook-side check (``grader.Checker``): a saved notebook graded and shown inline.

hw4's example notebook (``bea``, one stub left) is checked once, as a student would from the
notebook; its result must render as an HTML fragment Jupyter can show (no page skeleton, no script,
no external asset, a stylesheet that cannot restyle the notebook, still readable once Jupyter drops
the <style>) and as ``grader check``'s table in plain text, and must name the stub and nothing else.
The rest uses the small hostile-submission spec, whose checks take a fraction of a second.
"""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from grader import Checker
from grader.errors import UsageError
from grader.kit.checker import CheckedFile

ROOT = Path(__file__).resolve().parents[2]
SMALL_SPEC = ROOT / "tests" / "data" / "sandbox" / "sandbox.yaml"


class _Elements(HTMLParser):
    """Tags, attributes, text and style blocks of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        (self.styles if self._in_style else self.text).append(data)


@pytest.fixture(scope="module")
def bea() -> CheckedFile:
    return Checker("hw4").check(ROOT / "submissions" / "hw4" / "bea" / "hw4.ipynb")


def test_the_notebook_is_graded_and_only_its_stub_loses_points(bea: CheckedFile, expected_examples: dict) -> None:
    lost = {problem.problem for problem in bea.report.problems if problem.max_score and not problem.passed}
    assert lost == set(expected_examples["hw4"]["bea"])
    assert bea.report.mode == "check" and bea.report.submission == "bea"
    assert not bea.passed and 0 < bea.score < bea.report.max_score


def test_in_a_jupyter_kernel_the_report_is_shown_once(bea: CheckedFile, monkeypatch: pytest.MonkeyPatch) -> None:
    """rich displays what a console prints when it finds a Jupyter kernel, whatever file it writes to:
    the table must go to the text only, and Jupyter show the HTML alone."""
    import rich.console
    import rich.jupyter

    shown: list[Any] = []
    monkeypatch.setattr(rich.console, "_is_jupyter", lambda: True)
    monkeypatch.setattr(rich.jupyter, "display", lambda *args, **kwargs: shown.append(args))
    again = Checker("hw4")._result(bea.report, bea.checked, saved=bea.saved)
    assert shown == []
    assert again.text == bea.text and f"hw4 / bea: {bea.score:.2f}" in again.text


def test_the_inline_html_is_a_fragment_jupyter_can_show(bea: CheckedFile) -> None:
    html = bea._repr_html_()
    parsed = _Elements()
    parsed.feed(html)
    tags = [tag for tag, _ in parsed.tags]
    assert tags[0] == "div" and parsed.tags[0][1]["class"] == "grader-feedback"
    assert not {"html", "head", "body", "script", "link", "iframe"} & set(tags)
    sources = [value for _, attrs in parsed.tags for name, value in attrs.items() if name in ("src", "href")]
    assert all(value and value.startswith(("#", "data:")) for value in sources), sources
    # Every rule is scoped to the fragment, so that the notebook around it keeps its own style.
    rules = re.findall(r"([^{}]+)\{[^{}]*\}", re.sub(r"@media[^{]*\{", "", "".join(parsed.styles)))
    selectors = [selector.strip() for rule in rules for selector in rule.split(",") if selector.strip()]
    assert selectors and all(selector.startswith(".grader-feedback") for selector in selectors), selectors


def test_without_its_stylesheet_the_feedback_still_says_everything(bea: CheckedFile) -> None:
    """What untrusted Jupyter output keeps: the text, with <style> dropped."""
    parsed = _Elements()
    parsed.feed(bea.html)
    text = " ".join(" ".join(parsed.text).split())
    assert "Checked the saved file hw4.ipynb" in text and "changes you have not saved are not graded" in text
    for problem in bea.report.problems:
        assert problem.problem in text
    assert "conv_backward_naive" in text and "NotImplementedError" in text
    assert "public cases" in text


def test_plain_text_is_grader_checks_table(bea: CheckedFile) -> None:
    text = str(bea)
    assert text == repr(bea)
    assert text.startswith("Checked the saved file ") and "changes you have not saved are not graded" in text
    assert re.search(r"✗\s+conv_backward_naive\s+0\.00 / 15\.00", text)
    assert re.search(r"✓\s+affine_forward\s+10\.00 / 10\.00", text)
    assert f"hw4 / bea: {bea.score:.2f} / {bea.report.max_score:.2f}" in text
    assert "--html" not in text  # no command-line advice inside Python


@pytest.fixture
def small_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "honest.py").write_text("def double(x):\n    return 2 * x\n")
    return folder


def _notebook(*cells: str) -> str:
    import json

    return json.dumps({"cells": [{"cell_type": "code", "source": cell, "metadata": {}, "outputs": [],
                                  "execution_count": None} for cell in cells],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def test_a_notebook_under_another_name_is_graded_not_the_module_beside_it(small_folder: Path) -> None:
    """The notebook named is what is graded, through the portable worker as well."""
    (small_folder / "attack.py").write_text("def double(x):\n    return 3 * x\n\ndef honest_double(x):\n    return 3 * x\n")
    (small_folder / "my attack.ipynb").write_text(_notebook("import numpy as np", "def double(x):\n    return 2 * x"))
    checker = Checker(SMALL_SPEC, isolation="portable")
    with pytest.raises(UsageError, match="none of the modules this kit grades"):
        checker.check(small_folder / "my attack.ipynb")
    (small_folder / "my attack.ipynb").rename(small_folder / "attack.ipynb")
    result = checker.check(small_folder / "attack.ipynb")
    scores = {problem.problem: problem.passed for problem in result.report.problems}
    assert scores == {"double": True, "secret": False, "honest_double": False, "other_module": True}
    assert "portable worker" in result.text


def test_check_without_a_path_finds_the_kits_file_or_says_what_is_missing(small_folder: Path, monkeypatch) -> None:
    monkeypatch.chdir(small_folder)
    checker = Checker(SMALL_SPEC, isolation="portable")
    # Two modules: the folder is the submission.
    result = checker.check()
    assert result.checked == small_folder and {p.problem: p.passed for p in result.report.problems}["other_module"]
    with pytest.raises(UsageError, match="does not exist"):
        checker.check("nothing.ipynb")


def test_importing_the_checker_loads_no_grading_machinery() -> None:
    code = ("import sys; from grader import Checker; "
            "print(sorted(m for m in sys.modules if m.startswith(('grader.grading', 'grader.reports', 'torch'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_with_one_module_check_finds_its_notebook_or_module(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(Checker, "modules", lambda self: ["hw4"])
    checker = Checker("unused")
    with pytest.raises(UsageError, match=r"no hw4\.ipynb or hw4\.py in"):
        checker._find_default()
    (tmp_path / "hw4.ipynb").write_text("{}")
    assert checker._find_default() == Path("hw4.ipynb")
    (tmp_path / "hw4.py").write_text("")
    with pytest.raises(UsageError, match="name the one to check"):
        checker._find_default()
