"""The runner's account of a whole submission: a problem fed by another graded function that is
wrong says so, where the student would otherwise debug the wrong function."""

from __future__ import annotations

import types
from pathlib import Path

import yaml

from grader.grading.expectations import ReferenceExpectations
from grader.grading.runner import grade_problem, with_feeders
from grader.sandbox.session import InProcessSession
from grader.spec import load_spec

from test_scenario_checks import REFERENCE

ARGS = {"x": {"random": "normal", "shape": [3, 4], "seed": 1}, "w": {"random": "normal", "shape": [4, 2], "seed": 2},
        "dout": {"random": "normal", "shape": [3, 2], "seed": 3}}


def results_for(tmp_path: Path, student: str) -> dict[str, object]:
    (tmp_path / "ref.py").write_text(REFERENCE)
    problems = [
        {"id": "forward", "points": 1, "scenario": ["out, cache = forward(x, w)"], "read": ["out"],
         "cases": [{"name": "a", "visibility": "public", "args": {k: ARGS[k] for k in ("x", "w")}}],
         "checks": [{"kind": "value"}]},
        {"id": "backward", "points": 1, "scenario": ["out, cache = forward(x, w)", "dx, dw = backward(dout, cache)"],
         "read": ["dx", "dw"], "cases": [{"name": "a", "visibility": "public", "args": ARGS}],
         "checks": [{"kind": "value"}]},
    ]
    spec = {"schema_version": 1, "assignment": "t", "module": "student", "reference": "ref.py", "problems": problems}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    assignment = load_spec(tmp_path / "t.yaml")
    module = types.ModuleType("student")
    exec(student, module.__dict__)  # noqa: S102 - trusted test code
    expectations = ReferenceExpectations(assignment)
    results = tuple(grade_problem(assignment, problem, InProcessSession({"student": module}), expectations, "grade")
                    for problem in assignment.problems)
    return {result.problem: result for result in with_feeders(assignment, results)}


def test_a_backward_fed_a_wrong_forward_points_back_to_it(tmp_path: Path) -> None:
    # The forward doubles its output and swaps its cache: the backward (right) crashes on it.
    results = results_for(tmp_path, REFERENCE.replace("return x @ w, (x, w)", "return 2 * x @ w, (w, x)"))
    backward = results["backward"].checks[0]
    assert "(note: step 1 `out, cache = forward(x, w)` runs your forward, which loses points in problem forward: " \
           "what it returns may be why this fails; fix it first)" in backward.message
    assert "note:" not in results["forward"].checks[0].message


def test_no_note_when_the_feeding_function_is_right(tmp_path: Path) -> None:
    results = results_for(tmp_path, REFERENCE.replace("return dout @ w.T, x.T @ dout", "return dout @ w.T, x.T"))
    assert results["forward"].passed
    assert "note:" not in results["backward"].checks[0].message
