"""Diagnosis by behaviour: a student's own version of a declared mistake is named, nothing else is.

The declared variants are one formula; the students here write another with the same behaviour
(inf where the variant gives NaN, the same factor reached another way), or a different mistake
whose wrong parts are not the variant's (the log of an underflowed probability, with the max
shifted out): only the first are diagnosed.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from grader.grading.expectations import ReferenceExpectations
from grader.grading.runner import grade_problem
from grader.grading.selftest import check_problem
from grader.results import ProblemResult
from grader.sandbox.session import InProcessSession
from grader.spec import load_spec

REFERENCE = '''
import numpy as np

def softmax_loss(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = x.shape[0]
    dx = np.exp(log_probs)
    dx[np.arange(n), y] -= 1
    return -log_probs[np.arange(n), y].mean(), dx / n
'''

MISTAKES = '''
import numpy as np

def softmax_loss__no_max_shift(x, y):
    """exp(x) overflows for large scores: subtract each row's maximum first."""
    probs = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    n = x.shape[0]
    onehot = np.eye(x.shape[1])[y]
    return -np.sum(onehot * np.log(probs)) / n, (probs - onehot) / n

def softmax_loss__sum_not_mean(x, y):
    """The loss and its gradient are averaged over the batch, not summed."""
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = x.shape[0]
    dx = np.exp(log_probs)
    dx[np.arange(n), y] -= 1
    return -log_probs[np.arange(n), y].sum(), dx
'''

LABELS = {"random": "integers", "low": 0, "high": 5, "shape": [4], "seed": 2, "dtype": "int64"}
PROBLEM = {
    "id": "softmax_loss", "points": 2, "returns": ["loss", "dx"],
    "cases": [
        {"name": "small", "visibility": "public",
         "args": {"x": {"random": "normal", "shape": [4, 5], "seed": 1}, "y": LABELS}},
        {"name": "large", "hint": "scores up to 1e3 in magnitude",
         "args": {"x": {"random": "normal", "scale": 1000, "shape": [4, 5], "seed": 3}, "y": LABELS}},
    ],
    "checks": [{"kind": "value"}],
    "mistakes": ["no_max_shift", "sum_not_mean"],
}


def load(tmp_path: Path) -> Any:
    (tmp_path / "ref.py").write_text(REFERENCE)
    (tmp_path / "mistakes.py").write_text(MISTAKES)
    spec = {"schema_version": 1, "assignment": "t", "module": "student", "reference": "ref.py",
            "mistakes_module": "mistakes.py", "problems": [PROBLEM]}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_spec(tmp_path / "t.yaml")


def grade(tmp_path: Path, source: str) -> ProblemResult:
    assignment = load(tmp_path)
    module = types.ModuleType("student")
    exec("import numpy as np\n" + source, module.__dict__)  # noqa: S102 - trusted test code
    return grade_problem(assignment, assignment.problems[0], InProcessSession({"student": module}),
                         ReferenceExpectations(assignment), "grade")


# Without the max shift, written another way: the loss is log(sum(exp(x))) - x[y], which is inf
# (not the variant's NaN) where exp overflows; dx is NaN there as the variant's.
NO_SHIFT_INF = '''
def softmax_loss(x, y):
    n = x.shape[0]
    loss = np.mean(np.log(np.exp(x).sum(axis=1)) - x[np.arange(n), y])
    dx = np.exp(x) / np.sum(np.exp(x), axis=1)[:, None]
    dx[np.arange(n), y] -= 1
    return loss, dx / n
'''

# Summed, not averaged, reached another way: the mean times n.
SUM_ANOTHER_WAY = '''
def softmax_loss(x, y):
    n = len(y)
    m = x.max(axis=1)
    loss = np.sum(m + np.log(np.exp(x - m[:, None]).sum(axis=1)) - x[np.arange(n), y])
    p = np.exp(x - m[:, None])
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(n), y] -= 1
    return loss, p
'''

# The max is shifted out, but the loss takes the log of a probability that underflowed to 0: the
# loss is inf on large scores and dx is right. Not the no-max-shift mistake: its wrong parts differ.
LOG_OF_UNDERFLOW = '''
def softmax_loss(x, y):
    n = x.shape[0]
    p = np.exp(x - x.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(n), y]).mean()
    p[np.arange(n), y] -= 1
    return loss, p / n
'''

# Clips the scores instead of shifting them: finite, wrong values on large scores, never NaN or inf.
CLIPPED = '''
def softmax_loss(x, y):
    x = np.clip(x, -50, 50)
    n = x.shape[0]
    p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(n), y] + 1e-300).mean()
    p[np.arange(n), y] -= 1
    return loss, p / n
'''

RIGHT = REFERENCE.replace("import numpy as np", "")


@pytest.mark.parametrize(("source", "mistakes"), [
    (NO_SHIFT_INF, ["no_max_shift"]),
    (SUM_ANOTHER_WAY, ["sum_not_mean"]),
    (LOG_OF_UNDERFLOW, []),
    (CLIPPED, []),
    ("def softmax_loss(x, y):\n    return 0.0, np.zeros_like(x)\n", []),
])
def test_a_mistake_is_named_by_what_the_answer_does(tmp_path: Path, source: str, mistakes: list[str]) -> None:
    result = grade(tmp_path, source)
    assert result.score < result.points  # each of these is wrong somewhere
    assert [d.mistake for d in result.diagnoses] == mistakes


def test_the_students_variant_differs_from_the_declared_one_in_kind_of_non_finite(tmp_path: Path) -> None:
    """The premise of the NaN/inf test: the declared variant gives NaN, the student's inf."""
    namespace: dict[str, Any] = {}
    exec("import numpy as np\n" + NO_SHIFT_INF, namespace)  # noqa: S102
    exec(MISTAKES, namespace)  # noqa: S102
    x = np.random.default_rng(3).normal(0, 1000, (4, 5))
    y = np.random.default_rng(2).integers(0, 5, 4)
    with np.errstate(all="ignore"):
        assert np.isinf(namespace["softmax_loss"](x, y)[0])
        assert np.isnan(namespace["softmax_loss__no_max_shift"](x, y)[0])


def test_a_right_answer_is_never_diagnosed(tmp_path: Path) -> None:
    result = grade(tmp_path, RIGHT)
    assert result.passed and result.diagnoses == ()


def test_lint_still_names_each_declared_mistake_as_itself_only(tmp_path: Path) -> None:
    assignment = load(tmp_path)
    findings = check_problem(assignment, assignment.problems[0], ReferenceExpectations(assignment), InProcessSession)
    assert all(finding.ok for finding in findings), [finding.line() for finding in findings if not finding.ok]


def test_an_answer_of_no_numeric_kind_is_graded_and_not_diagnosed(tmp_path: Path) -> None:
    result = grade(tmp_path, "def softmax_loss(x, y):\n    return np.array(['a', 'b'], dtype=object), 'dx'\n")
    assert result.score == 0 and result.diagnoses == ()
