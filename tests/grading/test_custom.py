"""``kind: custom``: the instructor's judge accepts what it should (an eigenvector of either sign,
which a value check would refuse) and rejects wrong and degenerate answers; an unknown judge is a
spec error before grading; a judge that cannot cope with an answer fails that case, not the run;
the kit ships the judges so public custom checks run there too."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import yaml

from grader.cli import main
from grader.errors import SpecError
from grader.grading.expectations import ReferenceExpectations
from grader.grading.preflight import verify_reference
from grader.grading.runner import grade_problem
from grader.results import ProblemResult
from grader.sandbox.session import InProcessSession
from grader.spec import load_spec

REFERENCE = '''
import numpy as np

def top_eigvec(A):
    values, vectors = np.linalg.eigh(A)
    return vectors[:, -1]
'''

CHECKS = '''
import numpy as np

def same_up_to_sign(value, expected, args, atol=1e-8):
    value = np.asarray(value, dtype=float)
    if value.shape != expected.shape:
        return False, f"shape {value.shape}, expected {expected.shape}"
    if np.allclose(value, expected, atol=atol) or np.allclose(value, -expected, atol=atol):
        return True
    return False, "not the unit eigenvector of the largest eigenvalue (up to its sign)"
'''

SYMMETRIC = {"array": [[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]]}


def spec(tmp_path: Path, judge: str = "same_up_to_sign") -> Path:
    (tmp_path / "ref.py").write_text(REFERENCE)
    (tmp_path / "judges.py").write_text(CHECKS)
    problem = {"id": "top_eigvec", "points": 4,
               "cases": [{"name": "a", "visibility": "public", "args": {"A": SYMMETRIC}},
                         {"name": "hidden", "args": {"A": {"random": "affinity", "shape": [5, 5], "seed": 3}}}],
               "checks": [{"kind": "custom", "judge": judge, "options": {"atol": 1e-6}}]}
    document = {"schema_version": 1, "assignment": "t", "module": "student", "reference": "ref.py",
                "checks_module": "judges.py", "problems": [problem]}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    return tmp_path / "t.yaml"


def grade(path: Path, function: Callable[..., Any]) -> ProblemResult:
    assignment = load_spec(path)
    expectations = ReferenceExpectations(assignment)
    verify_reference(expectations)
    student = types.ModuleType("student")
    student.top_eigvec = function
    return grade_problem(assignment, assignment.problems[0], InProcessSession({"student": student}), expectations,
                         "grade")


def reference_answer(A: np.ndarray) -> np.ndarray:
    return np.linalg.eigh(A)[1][:, -1]


@pytest.mark.parametrize(("answer", "points"), [
    (reference_answer, 4.0),
    (lambda A: -reference_answer(A), 4.0),                      # the other sign: right
    (lambda A: np.linalg.eigh(A)[1][:, 0], 0.0),                # the smallest eigenvalue's
    (lambda A: np.zeros(len(A)), 0.0),
    (lambda A: A[0], 0.0),                                      # the input's first row
    (lambda A: "a string", 0.0),                                # the judge cannot cope: the case fails
])
def test_the_judge_decides(tmp_path: Path, answer: Callable[..., Any], points: float) -> None:
    result = grade(spec(tmp_path), answer)
    assert result.score == points, result.checks[0].message


def test_its_message_reaches_a_public_case_only(tmp_path: Path) -> None:
    result = grade(spec(tmp_path), lambda A: np.linalg.eigh(A)[1][:, 0])
    cases = {case.case: case for case in result.checks[0].cases}
    assert "not the unit eigenvector" in cases["a"].message
    assert "not the unit eigenvector" not in cases["hidden"].message


def test_an_unknown_judge_stops_before_grading(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        grade(spec(tmp_path, judge="same_up_to_sing"), reference_answer)
    assert (info.value.problem, info.value.field) == ("top_eigvec", "checks.0.judge")


def test_the_kit_ships_the_judges(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bundle", str(spec(tmp_path)), "--out", str(tmp_path / "kit")]) == 0
    assert (tmp_path / "kit" / "checks.py").read_text() == CHECKS
    assert load_spec(tmp_path / "kit" / "spec.yaml", check_files=False).checks_module == "checks.py"
    student = tmp_path / "student"
    student.mkdir()
    (student / "student.py").write_text(REFERENCE.replace("vectors[:, -1]", "-vectors[:, -1]"))
    assert main(["check", str(tmp_path / "kit"), str(student), "--json", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["score"] > 0
