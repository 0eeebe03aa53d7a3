"""Notebook submissions: hwN.ipynb stands for hwN.py, its code cells run in order as the module,
magics are skipped, and errors point at "cell N, line M" (in the sandbox, as a student sees them)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from grader.grading.expectations import ReferenceExpectations
from grader.grading.runner import grade_submission
from grader.results import GradeReport
from grader.sandbox import notebook
from grader.sandbox.server import Sandbox
from grader.sandbox.session import SandboxSession
from grader.spec import load_spec

SPEC = {
    "schema_version": 1, "assignment": "nb", "module": "hw", "reference": "ref.py",
    "limits": {"call_timeout": 5, "import_timeout": 10, "submission_timeout": 60},
    "problems": [
        {"id": "double", "points": 1, "cases": [{"name": "a", "visibility": "public", "args": {"x": [1.0, 2.0]}}],
         "checks": [{"kind": "value"}]},
        {"id": "triple", "points": 1, "cases": [{"name": "a", "visibility": "public", "args": {"x": [1.0, 2.0]}}],
         "checks": [{"kind": "value"}]},
    ],
}


def write_notebook(path: Path, cells: list[tuple[str, str]]) -> None:
    path.write_text(json.dumps({
        "nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [{"cell_type": kind, "metadata": {}, "source": source.splitlines(keepends=True),
                   **({"outputs": [{"output_type": "stream", "name": "stdout", "text": ["ignored\n"]}],
                       "execution_count": 1} if kind == "code" else {})} for kind, source in cells],
    }))


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("spec")
    (folder / "ref.py").write_text("def double(x):\n    return 2 * x\n\ndef triple(x):\n    return 3 * x\n")
    path = folder / "nb.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    return path


@pytest.fixture(scope="module")
def sandbox(spec: Path) -> Iterator[Sandbox]:
    """One fork server for the module's notebooks, as a class's run would use."""
    with Sandbox(hide=[spec.parent]) as running:
        yield running


def check(spec: Path, sandbox: Sandbox, student: Path) -> GradeReport:
    assignment = load_spec(spec)
    return grade_submission(assignment, student, expectations=ReferenceExpectations(assignment), mode="check",
                            session_factory=lambda path, deadline: SandboxSession(sandbox, path, deadline=deadline))


def test_magics_become_pass_and_keep_line_numbers() -> None:
    source = "%matplotlib inline\nimport numpy as np\nif True:\n    !pip install x\n    y = 1"
    assert notebook.without_magics(source) == \
        "pass  # matplotlib inline\nimport numpy as np\nif True:\n    pass  # pip install x\n    y = 1"


def test_a_notebook_is_graded_like_a_module(spec: Path, sandbox: Sandbox, tmp_path: Path) -> None:
    student = tmp_path / "student"
    student.mkdir()
    write_notebook(student / "hw.ipynb", [
        ("markdown", "# My homework\nThis `def double(x): return 0` is markdown, not code."),
        ("code", "%matplotlib inline\n!pip list\nimport numpy as np"),
        ("code", "def double(x):\n    return 2 * x"),
        ("markdown", "Part 2"),
        ("code", "def triple(x):\n    y = 3 * x\n    raise ValueError('not done yet')\n    return y"),
    ])
    report = check(spec, sandbox, student)
    double, triple = report.problems
    assert double.passed
    assert triple.score == 0
    traceback = triple.checks[0].cases[0].traceback
    assert 'File "hw.ipynb, cell 5", line 3, in triple' in traceback
    assert "raise ValueError('not done yet')" in traceback


def test_a_notebook_that_is_not_json_is_a_clear_import_error(spec: Path, sandbox: Sandbox, tmp_path: Path) -> None:
    student = tmp_path / "student"
    student.mkdir()
    (student / "hw.ipynb").write_text('{"cells": [ this is not json')
    report = check(spec, sandbox, student)
    assert all(problem.status == "import_error" for problem in report.problems)
    assert "hw.ipynb is not a valid notebook: it is not JSON" in report.problems[0].message


def test_a_syntax_error_in_a_cell_names_the_cell(spec: Path, sandbox: Sandbox, tmp_path: Path) -> None:
    student = tmp_path / "student"
    student.mkdir()
    write_notebook(student / "hw.ipynb", [("code", "def double(x):\n    return 2 * x"), ("code", "def triple(x)\n    pass")])
    report = check(spec, sandbox, student)
    assert report.problems[0].status == "import_error"
    assert "hw.ipynb, cell 2" in report.problems[0].message + report.problems[0].checks[0].cases[0].traceback
