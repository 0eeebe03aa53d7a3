"""The self-test's account of declared mistakes: when a rejected variant cannot be named, it says
why, in the spec's terms."""

from __future__ import annotations

from pathlib import Path

import yaml

from grader.grading.expectations import ReferenceExpectations
from grader.grading.selftest import check_problem
from grader.sandbox.session import InProcessSession
from grader.spec import load_spec

REFERENCE = "def scale(x):\n    return 2 * x\n"
MISTAKES = '''
def scale__in_place(x):
    """You doubled x in place: the caller's array changed."""
    x *= 2
    return x

def scale__tripled(x):
    """You multiplied by 3."""
    return 3 * x
'''


def test_a_variant_only_a_property_rejects_is_not_named_and_lint_says_why(tmp_path: Path) -> None:
    (tmp_path / "ref.py").write_text(REFERENCE)
    (tmp_path / "mistakes.py").write_text(MISTAKES)
    spec = {"schema_version": 1, "assignment": "t", "module": "m", "reference": "ref.py",
            "mistakes_module": "mistakes.py", "problems": [{
                "id": "scale", "points": 2, "mistakes": ["in_place", "tripled"],
                "cases": [{"name": "a", "visibility": "public", "args": {"x": {"random": "normal", "shape": [3],
                                                                               "seed": 1}}}],
                "checks": [{"kind": "value"}, {"kind": "property", "name": "x kept",
                                               "property": "does_not_modify_inputs"}]}]}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(spec))
    assignment = load_spec(tmp_path / "t.yaml")
    findings = {finding.what: finding for finding in check_problem(
        assignment, assignment.problems[0], ReferenceExpectations(assignment), InProcessSession)}
    in_place = findings["mistake 'in_place' is rejected and diagnosed"]
    assert not in_place.ok
    assert in_place.detail == ("is not diagnosed: only x kept rejects it, and a mistake is named by the parts value "
                               "and gradient checks compare; add a value check of the parts it changes")
    assert findings["mistake 'tripled' is rejected and diagnosed"].ok


def test_mistakes_only_a_hidden_case_tells_apart_are_a_warning(tmp_path: Path) -> None:
    """Where every |x| > 0.75 the two variants agree, so on such public cases a student's self-check
    would name both; the hidden case tells them apart, so grading names one: lint warns."""
    (tmp_path / "ref.py").write_text(REFERENCE)
    (tmp_path / "mistakes.py").write_text(
        'import numpy as np\n\ndef scale__abs(x):\n    """You doubled |x|."""\n    return 2 * np.abs(x)\n\n'
        'def scale__small_dropped(x):\n    """You doubled |x| and dropped the small entries."""\n'
        '    return 2 * np.abs(x) * (np.abs(x) > 0.75)\n\n'
        'def scale__tripled(x):\n    """You multiplied by 3."""\n    return 3 * x\n')
    spec = {"schema_version": 1, "assignment": "t", "module": "m", "reference": "ref.py",
            "mistakes_module": "mistakes.py", "problems": [{
                "id": "scale", "points": 2, "mistakes": ["abs", "small_dropped", "tripled"],
                "cases": [{"name": "a", "visibility": "public", "args": {"x": [1.0, 0.5, -3.0]}},
                          {"name": "b", "args": {"x": [-1.0, 2.0, 0.5]}}],
                "checks": [{"kind": "value"}]}]}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(spec))
    assignment = load_spec(tmp_path / "t.yaml")
    findings = check_problem(assignment, assignment.problems[0], ReferenceExpectations(assignment), InProcessSession)
    assert all(finding.ok for finding in findings)
    warned = {finding.what for finding in findings if finding.warning}
    assert warned == set()
    spec["problems"][0]["cases"][0]["args"]["x"] = [1.0, 2.0, -3.0]
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(spec))
    assignment = load_spec(tmp_path / "t.yaml")
    findings = check_problem(assignment, assignment.problems[0], ReferenceExpectations(assignment), InProcessSession)
    warned = {finding.what for finding in findings if finding.warning}
    assert warned == {"the public cases do not tell mistake 'abs' apart",
                      "the public cases do not tell mistake 'small_dropped' apart"}


def test_a_handout_that_never_names_a_graded_function_is_a_warning(tmp_path: Path) -> None:
    from grader.grading.selftest import run_selftest

    (tmp_path / "ref.py").write_text(REFERENCE)
    (tmp_path / "mistakes.py").write_text(MISTAKES)
    (tmp_path / "handout.md").write_text("# hw\n\n`softmax(x)` returns the softmax of each row.\n")
    spec = {"schema_version": 1, "assignment": "t", "module": "m", "reference": "ref.py", "handout": "handout.md",
            "mistakes_module": "mistakes.py", "problems": [{
                "id": "scale", "points": 2, "mistakes": ["in_place", "tripled"],
                "cases": [{"name": "a", "visibility": "public", "args": {"x": [1.0, 2.0]}}],
                "checks": [{"kind": "value"}]}]}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(spec))
    findings = run_selftest(load_spec(tmp_path / "t.yaml"), session_for=InProcessSession)
    assert [f.line() for f in findings if f.warning] == [
        "[warn] scale: the handout names scale - handout.md never mentions `scale`"]
    (tmp_path / "handout.md").write_text("# hw\n\n`scale(x)` doubles x.\n")
    assert not any(f.warning for f in run_selftest(load_spec(tmp_path / "t.yaml"), session_for=InProcessSession))
