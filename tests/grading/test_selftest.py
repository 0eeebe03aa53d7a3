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
