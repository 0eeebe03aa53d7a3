"""A scenario may call the instructor's helpers (an 11-785 `weight_init_fn` passed as an argument):
the same function on both sides, in the student's worker and for the reference; a name the helpers
module lacks stops the run before grading; the kit ships the helpers."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest
import yaml

from grader.cli import main
from grader.errors import SpecError
from grader.grading.expectations import ReferenceExpectations
from grader.grading.preflight import verify_reference
from grader.grading.runner import grade_problem
from grader.sandbox.session import InProcessSession
from grader.spec import load_spec

REFERENCE = '''
import numpy as np

class Linear:
    def __init__(self, in_features, out_features, weight_init_fn=None):
        self.W = weight_init_fn(out_features, in_features) if weight_init_fn else np.zeros((out_features, in_features))

    def forward(self, A):
        return A @ self.W.T
'''

HELPERS = '''
import numpy as np

def init_weights(d0, d1):
    return np.arange(d0 * d1, dtype=float).reshape(d0, d1) / 10 - 0.2
'''


def spec(tmp_path: Path, step: str = "layer = Linear(3, 2, weight_init_fn=helpers.init_weights)") -> Path:
    (tmp_path / "ref.py").write_text(REFERENCE)
    (tmp_path / "course_helpers.py").write_text(HELPERS)
    problem = {"id": "Linear", "points": 2, "scenario": [step, "Z = layer.forward(A)"], "read": ["Z", "layer.W"],
               "cases": [{"name": "a", "visibility": "public",
                          "args": {"A": {"random": "normal", "shape": [4, 3], "seed": 1}}}],
               "checks": [{"kind": "value"}]}
    document = {"schema_version": 1, "assignment": "t", "module": "student", "reference": "ref.py",
                "helpers": "course_helpers.py", "problems": [problem]}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    return tmp_path / "t.yaml"


def grade(path: Path, source: str) -> float:
    assignment = load_spec(path)
    expectations = ReferenceExpectations(assignment)
    verify_reference(expectations)
    student = types.ModuleType("student")
    exec(source, student.__dict__)  # noqa: S102 - trusted test code
    return grade_problem(assignment, assignment.problems[0], InProcessSession({"student": student}), expectations,
                         "grade").score


def test_the_helper_is_passed_on_both_sides(tmp_path: Path) -> None:
    assert grade(spec(tmp_path), REFERENCE) == 2
    # A student who ignores weight_init_fn keeps zeros: wrong W and wrong Z.
    assert grade(spec(tmp_path), REFERENCE.replace("weight_init_fn(out_features, in_features) if weight_init_fn else ",
                                                   "")) == 0


def test_a_name_the_helpers_lack_stops_before_grading(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        grade(spec(tmp_path, "layer = Linear(3, 2, weight_init_fn=helpers.init_weight)"), REFERENCE)
    assert "`helpers.init_weight` is not defined: course_helpers.py has no `init_weight`" in str(info.value)


def test_the_kit_ships_the_helpers_and_the_sandbox_runs_them(tmp_path: Path) -> None:
    assert main(["bundle", str(spec(tmp_path)), "--out", str(tmp_path / "kit")]) == 0
    assert (tmp_path / "kit" / "helpers.py").read_text() == HELPERS
    student = tmp_path / "student"
    student.mkdir()
    (student / "student.py").write_text(REFERENCE)
    assert main(["check", str(tmp_path / "kit"), str(student), "--json", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["score"] == 2
