"""Notebook submissions: hwN.ipynb stands for hwN.py, its code cells run in order as the module,
each on its own (a failing cell stops only itself), magics and other tools' lines are skipped and
said so, and errors point at "cell N, line M" (in the sandbox, as a student sees them)."""

from __future__ import annotations

import ast
import importlib.util
import json
import math
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from grader.grading.expectations import ReferenceExpectations
from grader.grading.runner import grade_submission
from grader.results import GradeReport
from grader.sandbox import notebook
from grader.sandbox.interface import SandboxBackend
from grader.sandbox.portable import PortableSandbox
from grader.sandbox.server import Sandbox
from grader.sandbox.session import MAX_IMPORT_OUTPUT, MAX_NOTE_CHARS, MAX_NOTES, SandboxSession, import_notes
from grader.spec import load_spec

SPEC = {
    "schema_version": 1, "assignment": "nb", "module": "hw", "reference": "ref.py",
    "limits": {"call_timeout": 5, "import_timeout": 10, "submission_timeout": 60},
    "problems": [
        {"id": "double", "points": 1, "cases": [{"name": "a", "visibility": "public", "args": {"x": [1.0, 2.0]}}],
         "checks": [{"kind": "value"}]},
        {"id": "triple", "points": 1, "cases": [{"name": "a", "visibility": "public", "args": {"x": [1.0, 2.0]}}],
         "checks": [{"kind": "value"}]},
        {"id": "quad", "points": 1, "cases": [{"name": "a", "visibility": "public", "args": {"x": [1.0, 2.0]}}],
         "checks": [{"kind": "value"}]},
        {"id": "half", "points": 1, "cases": [{"name": "a", "visibility": "public", "args": {"x": [1.0, 2.0]}}],
         "checks": [{"kind": "value"}]},
    ],
}
GOOD = {
    "double": "def double(x):\n    return 2 * np.asarray(x)",
    "triple": "def triple(x):\n    return 3 * np.asarray(x)",
    "quad": "def quad(x):\n    return 4 * np.asarray(x)",
    "half": "def half(x):\n    return np.asarray(x) / 2",
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
    (folder / "ref.py").write_text("def double(x):\n    return 2 * x\n\ndef triple(x):\n    return 3 * x\n\n"
                                   "def quad(x):\n    return 4 * x\n\ndef half(x):\n    return x / 2\n")
    path = folder / "nb.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    return path


@pytest.fixture(scope="module")
def sandbox(spec: Path) -> Iterator[Sandbox]:
    """One fork server for the module's notebooks, as a class's run would use."""
    with Sandbox(hide=[spec.parent]) as running:
        yield running


def check(spec: Path, sandbox: SandboxBackend, student: Path) -> GradeReport:
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
        ("code", "def double(x):\n    return 2 * x\n\nprint('double(2) =', double(2))"),
        ("markdown", "Part 2"),
        ("code", "def triple(x):\n    y = 3 * x\n    raise ValueError('not done yet')\n    return y"),
    ])
    report = check(spec, sandbox, student)
    double, triple = report.problems[:2]
    assert double.passed
    # What the cells printed is the import's, not the first problem's.
    assert "While hw was imported, your code printed:\ndouble(2) = 4" in report.notes
    assert "double(2)" not in "".join(problem.output for problem in report.problems)
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


def test_a_broken_cell_stops_only_itself(spec: Path, sandbox: Sandbox, tmp_path: Path) -> None:
    """A syntax error, an exception, sys.exit and KeyboardInterrupt in cells between good ones: what
    the other cells define gets full marks, the function of the broken cell none, and a function that
    needs a name the failed cell did not get to define crashes, with the cell named."""
    student = tmp_path / "student"
    student.mkdir()
    write_notebook(student / "hw.ipynb", [
        ("markdown", "# Homework"),
        ("code", "import numpy as np\n\n" + GOOD["double"]),
        ("code", "def triple(x)\n    return 3 * x"),
        ("code", "scale = 4\nraise RuntimeError('plot failed')\nDIVISOR = 2"),
        ("code", "import sys\nsys.exit(1)"),
        ("code", "raise KeyboardInterrupt"),
        ("code", "class Code:\n    def __repr__(self):\n        raise RuntimeError\n\nraise SystemExit(Code())"),
        ("code", "def quad(x):\n    return scale * np.asarray(x)"),
        ("code", "def half(x):\n    return np.asarray(x) / DIVISOR"),
    ])
    report = check(spec, sandbox, student)
    double, triple, quad, half = report.problems
    assert double.passed and quad.passed
    assert triple.score == 0 and triple.status == "missing"
    assert "`triple` is not defined in hw.ipynb: cell 3, which mentions it, could not run (SyntaxError" in triple.message
    assert half.score == 0 and half.status == "graded"
    crash = half.checks[0].cases[0].message
    assert "NameError" in crash and "hw.ipynb: cell 4 failed at line 2 before defining it (RuntimeError: plot failed)" in crash
    notes = "\n".join(report.notes)
    assert "hw.ipynb, cell 3 could not run: SyntaxError: expected ':' (line 1)" in notes
    assert "hw.ipynb, cell 4 stopped at line 2: RuntimeError: plot failed" in notes
    assert 'File "hw.ipynb, cell 4", line 2, in <module>' in notes  # the trimmed traceback: the cell, not the grader
    assert "notebook.py" not in notes and str(student) not in notes
    assert "hw.ipynb, cell 5 stopped at line 2: called sys.exit(1)" in notes
    assert "hw.ipynb, cell 6 stopped at line 1: KeyboardInterrupt" in notes
    assert "hw.ipynb, cell 7 stopped at line 5: SystemExit." in notes  # its code's repr raised: the class is named
    # The portable worker (a fresh Python, no fork) runs the cells the same way and says the same.
    with PortableSandbox(preload_torch=False) as portable:
        again = check(spec, portable, student)
    assert [(problem.score, problem.failure) for problem in again.problems] == \
        [(problem.score, problem.failure) for problem in report.problems]
    assert again.notes == report.notes


def test_other_graders_lines_are_not_run_and_said_so(spec: Path, sandbox: Sandbox, tmp_path: Path) -> None:
    student = tmp_path / "student"
    student.mkdir()
    write_notebook(student / "hw.ipynb", [
        ("code", "# Initialize Otter\nimport otter\ngrader = otter.Notebook(\"hw4.ipynb\")"),
        ("code", "import numpy as np\n\n" + GOOD["double"]),
        ("code", 'grader.check("q1")'),
        ("code", GOOD["triple"] + "\n\n" + GOOD["quad"] + "\n\n" + GOOD["half"]),
        ("code", 'grader.check("q2")\nfor question in ["q3", "q4"]:\n    grader.check(question)'),
        ("markdown", "## Submission"),
        ("code", "grader.check_all()"),
    ])
    report = check(spec, sandbox, student)
    assert report.passed, [problem.failure for problem in report.problems]
    notes = "\n".join(report.notes)
    assert "could not run" not in notes and "stopped at" not in notes
    assert ("hw.ipynb: lines for another tool were not run (they do nothing here): cell 1: `import otter`, "
            "`grader = otter.Notebook(\"hw4.ipynb\")` (otter-grader); cell 3: `grader.check(\"q1\")` (otter-grader); "
            "cell 5: `grader.check(\"q2\")`, `grader.check(question)` (otter-grader); "
            "cell 7: `grader.check_all()` (otter-grader).") in notes


def test_colab_and_install_lines_are_not_run_and_the_rest_of_the_cell_is(spec: Path, sandbox: Sandbox,
                                                                         tmp_path: Path) -> None:
    student = tmp_path / "student"
    student.mkdir()
    write_notebook(student / "hw.ipynb", [
        ("code", "%%capture\n!pip install otter-grader"),
        ("code", "%pip install -q numpy\nfrom google.colab import drive\nimport numpy as np\n"
                 "drive.mount('/content/drive')\nFACTOR = 2"),
        ("code", "def double(x):\n    return FACTOR * np.asarray(x)\n\n" + GOOD["triple"]),
        ("code", "%%bash\nls /content/drive\necho done"),
        ("code", GOOD["quad"] + "\n\n" + GOOD["half"]),
    ])
    report = check(spec, sandbox, student)
    assert report.passed, [problem.failure for problem in report.problems]
    notes = "\n".join(report.notes)
    assert ("cell 1: `%%capture` (IPython), `!pip install otter-grader` (a package install); "
            "cell 2: `%pip install -q numpy` (a package install), `from google.colab import drive`, "
            "`drive.mount('/content/drive')` (Colab); cell 4: `%%bash` (a shell command).") in notes


def test_a_students_own_grader_is_not_touched(tmp_path: Path) -> None:
    """Only what an other tool's import bound is dropped: a name the student binds again is theirs."""
    write_notebook(tmp_path / "hw.ipynb", [
        ("code", "import otter\ngrader = otter.Notebook()"),
        ("code", "grader.check('q1')"),
        ("code", "class Grader:\n    def check(self, x):\n        return 2 * x\n\ngrader = Grader()"),
        ("code", "checked = grader.check(21)"),
    ])
    module = types.ModuleType("hw")
    loaded = notebook.load(tmp_path / "hw.ipynb", module, lambda error: (repr(error), ""))
    assert loaded.failures == () and module.checked == 42
    assert [(item.cell, item.text) for item in loaded.neutralised] == [
        (1, "import otter"), (1, "grader = otter.Notebook()"), (2, "grader.check('q1')")]


def test_jupyters_display_costs_nothing_where_it_is_not_installed(tmp_path: Path) -> None:
    write_notebook(tmp_path / "hw.ipynb", [
        ("code", "from IPython.display import display, HTML\nimport math\ndisplay(HTML('<b>pi</b>'))\nPI = math.pi"),
    ])
    module = types.ModuleType("hw")
    loaded = notebook.load(tmp_path / "hw.ipynb", module, lambda error: (repr(error), ""))
    assert loaded.failures == () and module.PI == math.pi
    installed = importlib.util.find_spec("IPython") is not None
    assert [item.text for item in loaded.neutralised] == \
        ([] if installed else ["from IPython.display import display, HTML", "display(HTML('<b>pi</b>'))"])


def test_valid_python_with_a_percent_line_is_not_a_magic() -> None:
    source = "x = (7\n% 4)\n"
    assert notebook.python_of(1, source) == (source, [])
    code, dropped = notebook.python_of(1, "%time y = 1\n!ls\nz = 2")
    assert code == "y = 1\npass\nz = 2" and [item.text for item in dropped] == ["!ls"]
    ast.parse(code)


def test_the_grader_bounds_what_a_worker_says_of_an_import() -> None:
    notes = import_notes("hw", {"status": "ok", "notes": ["x" * 10**6] * 100}, "printed\n" * 10**4)
    assert len(notes) == MAX_NOTES + 1 and all(len(note) == MAX_NOTE_CHARS for note in notes[:-1])
    assert notes[-1].startswith("While hw was imported, your code printed:\nprinted\n")
    assert len(notes[-1]) < MAX_IMPORT_OUTPUT + 100 and notes[-1].endswith("more characters not shown]")
    assert import_notes("hw", {"status": "ok", "notes": "not a list"}, " \n") == ()
