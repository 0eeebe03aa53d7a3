"""Every check kind accepts a right answer and rejects wrong ones, through the real runner.

The "students" here are in-process modules (trusted test code), so these tests exercise the checks
and the scoring; the sandbox has its own tests.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import yaml

from grader.grading.expectations import ReferenceExpectations
from grader.grading.runner import grade_problem
from grader.results import Outcome, ProblemResult
from grader.sandbox.session import InProcessSession
from grader.spec import load_spec

REFERENCE = '''
import numpy as np

def sigmoid(x):
    return 0.5 * (1 + np.tanh(0.5 * np.asarray(x, dtype=float)))

def sigmoid_objective(x, g):
    return float(np.sum(sigmoid(x) * g))

def sigmoid_backward(x, g):
    s = sigmoid(x)
    return g * s * (1 - s)

def softmax(x):
    z = np.exp(x - np.max(x))
    return z / z.sum()

def pair(x):
    return (x * 2, {"W": x + 1})

def pair_objective(x):
    return float(np.sum(x ** 2))
'''


def make_spec(tmp_path: Path, problem: dict[str, Any]) -> Any:
    (tmp_path / "ref.py").write_text(REFERENCE)
    spec = {"schema_version": 1, "assignment": "t", "module": "student", "reference": "ref.py", "problems": [problem]}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_spec(tmp_path / "t.yaml")


def grade(tmp_path: Path, problem: dict[str, Any], function: Callable[..., Any], mode: str = "grade") -> ProblemResult:
    assignment = make_spec(tmp_path, problem)
    module = types.ModuleType("student")
    setattr(module, assignment.problems[0].function_name, function)
    expectations = ReferenceExpectations(assignment)
    return grade_problem(assignment, assignment.problems[0], InProcessSession({"student": module}), expectations, mode)


VECTOR = {"x": {"random": "normal", "shape": [5], "seed": 1}}
SIGMOID = {
    "id": "sigmoid",
    "points": 4,
    "cases": [
        {"name": "pub", "visibility": "public", "args": VECTOR},
        {"name": "secret", "visibility": "hidden", "hint": "think", "args": {"x": [0.5, -2.0]}},
    ],
    "checks": [{"kind": "value"}],
}


def stable(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def test_value_accepts_a_right_answer(tmp_path: Path) -> None:
    result = grade(tmp_path, SIGMOID, stable)
    assert result.passed and result.score == 4


@pytest.mark.parametrize(
    ("wrong", "words"),
    [
        (lambda x: 1 / (1 + np.exp(x)), "values differ"),
        (lambda x: stable(x)[None, :], "values right, shape (1, 5) where (5,) is asked"),
        (lambda x: stable(x)[:3], "expected shape (5,), got shape (3,)"),
        (lambda x: "0.5", "expected an array"),
        (lambda x: stable(x) * np.nan, "NaN"),
    ],
)
def test_value_rejects_wrong_answers(tmp_path: Path, wrong: Callable[..., Any], words: str) -> None:
    result = grade(tmp_path, SIGMOID, wrong)
    assert result.score == 0
    (check,) = result.checks
    public, hidden = check.cases
    assert words in public.message
    # A hidden case never shows its inputs, expected or obtained values.
    assert not hidden.public and hidden.inputs == hidden.expected == hidden.obtained == ""
    assert hidden.comparisons == () and hidden.hint == "think"


def test_exception_is_a_result_with_a_traceback(tmp_path: Path) -> None:
    def broken(x: np.ndarray) -> np.ndarray:
        raise ValueError("shapes do not align")

    result = grade(tmp_path, SIGMOID, broken)
    case = result.checks[0].cases[0]
    assert case.outcome is Outcome.ERROR and "ValueError: shapes do not align" in case.message


def test_check_mode_runs_public_cases_only(tmp_path: Path) -> None:
    result = grade(tmp_path, SIGMOID, stable, mode="check")
    assert [case.case for case in result.checks[0].cases] == ["pub"]


BACKWARD = {
    "id": "sigmoid_backward",
    "points": 1,
    "cases": [{"name": "v", "visibility": "public", "args": {"x": {"random": "normal", "shape": [6], "seed": 2},
                                                              "g": {"random": "normal", "shape": [6], "seed": 3}}}],
    "checks": [{"kind": "gradient", "function": "sigmoid_objective", "wrt": {"x": ""}}],
}


def right_backward(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    s = stable(x)
    return g * s * (1 - s)


def test_gradient_accepts_a_correct_float64_backward(tmp_path: Path) -> None:
    result = grade(tmp_path, BACKWARD, right_backward)
    assert result.passed, result.failure


@pytest.mark.parametrize(
    ("wrong", "rel_error"),
    [(lambda x, g: -right_backward(x, g), 2.0), (lambda x, g: 2 * right_backward(x, g), 1.0),
     (lambda x, g: right_backward(x, g) * (1 + 1e-3), 1e-3)],
)
def test_gradient_rejects_wrong_sign_and_factors(tmp_path: Path, wrong: Callable[..., Any], rel_error: float) -> None:
    result = grade(tmp_path, BACKWARD, wrong)
    assert result.score == 0
    comparison = result.checks[0].cases[0].comparisons[0]
    assert comparison.max_rel_error == pytest.approx(rel_error, rel=0.01)
    assert f"largest relative error {rel_error:.3g}" in result.checks[0].cases[0].message


def test_gradient_by_autograd_on_a_torch_reference(tmp_path: Path) -> None:
    problem = {**BACKWARD, "checks": [{"kind": "gradient", "function": "sigmoid_objective_torch",
                                       "wrt": {"x": ""}, "method": "autograd"}]}
    global REFERENCE
    original = REFERENCE
    REFERENCE += "\nimport torch\ndef sigmoid_objective_torch(x, g):\n    return (torch.sigmoid(x) * g).sum()\n"
    try:
        assert grade(tmp_path, problem, right_backward).passed
        assert grade(tmp_path / "..", problem, lambda x, g: -right_backward(x, g)).score == 0
    finally:
        REFERENCE = original


def test_gradient_selects_parts_of_tuples_and_dicts(tmp_path: Path) -> None:
    problem = {"id": "pair", "points": 1,
               "cases": [{"name": "v", "visibility": "public", "args": {"x": [1.0, -2.0]}}],
               "checks": [{"kind": "gradient", "function": "pair_objective", "wrt": {"x": "1.W"}}]}
    assert grade(tmp_path, problem, lambda x: (0, {"W": 2 * x})).passed
    result = grade(tmp_path, problem, lambda x: (0, {"V": 2 * x}))
    assert result.score == 0 and "no part" in result.checks[0].cases[0].message


def softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - np.max(x))
    return z / z.sum()


SOFTMAX = {
    "id": "softmax",
    "points": 1,
    "cases": [{"name": "v", "visibility": "public", "args": {"x": [1.0, 2.0, 3.0]}}],
}


@pytest.mark.parametrize(
    ("check", "right", "wrong", "words"),
    [
        ({"kind": "property", "property": "sums_to_one"}, lambda x: np.ones(3) / 3, lambda x: np.ones(3), "not 1"),
        ({"kind": "property", "property": "in_range", "low": 0, "high": 1}, lambda x: x / 10, lambda x: x, "outside"),
        ({"kind": "property", "property": "symmetric"}, lambda x: np.outer(x, x), lambda x: np.outer(x, x + 1),
         "not symmetric"),
        ({"kind": "property", "property": "shift_invariant", "arg": "x", "shift": 10.0},
         lambda x: np.exp(x - x.max()), lambda x: np.exp(x), "changed the output"),
        ({"kind": "stability"}, lambda x: softmax(x), lambda x: np.exp(x + 1e3) / np.exp(x + 1e3).sum(), "overflow"),
        ({"kind": "stability"}, lambda x: softmax(x), lambda x: x * np.nan, "non-finite"),
        ({"kind": "stability"}, lambda x: softmax(x), lambda x: np.zeros_like(x), "wrong values"),
    ],
)
def test_reference_free_checks(tmp_path: Path, check: dict, right: Callable, wrong: Callable, words: str) -> None:
    problem = {**SOFTMAX, "checks": [check]}
    assert grade(tmp_path, problem, right).passed
    result = grade(tmp_path, problem, wrong)
    assert result.score == 0 and words in result.checks[0].message


def test_does_not_modify_inputs(tmp_path: Path) -> None:
    problem = {**SOFTMAX, "checks": [{"kind": "property", "property": "does_not_modify_inputs"}]}

    def in_place(x: np.ndarray) -> np.ndarray:
        x -= x.max()
        return x

    assert grade(tmp_path, problem, lambda x: x - x.max()).passed
    result = grade(tmp_path, problem, in_place)
    assert result.score == 0 and "modified its input x in place" in result.checks[0].message


def test_partial_credit_is_the_weighted_share_of_checks(tmp_path: Path) -> None:
    problem = {**SOFTMAX, "points": 10, "checks": [
        {"kind": "value", "weight": 3},
        {"kind": "property", "property": "sums_to_one", "weight": 1},
    ]}
    assert grade(tmp_path, problem, softmax).score == pytest.approx(10)
    result = grade(tmp_path, problem, lambda x: softmax(x) + 1e-3)  # wrong values that do not sum to one
    assert result.score == 0


TWO_CASES = {
    "id": "softmax",
    "points": 10,
    "cases": [
        {"name": "pub", "visibility": "public", "args": {"x": [1.0, 2.0, 3.0]}},
        {"name": "secret", "visibility": "hidden", "args": {"x": [5.0, 1.0, -2.0, 0.5]}},
    ],
    "checks": [
        {"kind": "value", "cases": ["pub"], "weight": 1},
        {"kind": "value", "cases": ["secret"], "weight": 1},
        {"kind": "property", "property": "sums_to_one", "weight": 1},
        {"kind": "property", "property": "does_not_modify_inputs", "weight": 1},
    ],
}


@pytest.mark.parametrize("wrong", [
    lambda x: np.ones_like(x) / len(x),          # sums to one, leaves x alone: every property passes
    lambda x: np.zeros_like(x),
    lambda x: x,
])
def test_properties_earn_nothing_for_wrong_values(tmp_path: Path, wrong: Callable) -> None:
    result = grade(tmp_path, TWO_CASES, wrong)
    assert result.score == 0
    passed = [check for check in result.checks if check.outcome is Outcome.PASSED]
    assert passed and all("counts once your values are right" in check.message for check in passed)


def test_properties_count_on_the_cases_whose_values_are_right(tmp_path: Path) -> None:
    """Right on the public case, wrong on the hidden one: the properties count on the public case."""

    def public_only(x: np.ndarray) -> np.ndarray:
        return softmax(x) if len(x) == 3 else np.ones_like(x) / len(x)

    result = grade(tmp_path, TWO_CASES, public_only)
    assert result.score == pytest.approx(10 * (1 + 0 + 0.5 + 0.5) / 4)
    assert "counts on 1 of 2 cases" in result.checks[2].message
    assert grade(tmp_path, TWO_CASES, softmax).score == pytest.approx(10)


def test_lint_rejects_a_spec_where_a_degenerate_answer_scores(tmp_path: Path) -> None:
    """relu on negative inputs only: zeros are right there, and the self-test says so."""
    from grader.grading.selftest import check_degenerates

    (tmp_path / "ref.py").write_text("import numpy as np\n\ndef relu(x):\n    return np.maximum(x, 0.0)\n")
    problem = {"id": "relu", "points": 1, "checks": [{"kind": "value"}],
               "cases": [{"name": "negative", "visibility": "public", "args": {"x": [-1.0, -2.0]}}]}
    spec = {"schema_version": 1, "assignment": "t", "module": "student", "reference": "ref.py", "problems": [problem]}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    assignment = load_spec(tmp_path / "t.yaml")
    expectations = ReferenceExpectations(assignment)
    finding = check_degenerates(assignment, assignment.problems[0], expectations, InProcessSession)
    assert not finding.ok and "zeros scores 1" in finding.detail
    problem["cases"].append({"name": "mixed", "args": {"x": [-1.0, 2.0, 0.5]}})
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    assignment = load_spec(tmp_path / "t.yaml")
    assert check_degenerates(assignment, assignment.problems[0], ReferenceExpectations(assignment), InProcessSession).ok


def test_accuracy_credit_curve() -> None:
    from grader.grading.checks.accuracy import credit
    from grader.spec import AccuracyCheck

    linear = AccuracyCheck(kind="accuracy", target=0.98, floor=0.90)
    assert credit(0.99, linear) == 1.0
    assert credit(0.94, linear) == pytest.approx(0.5)
    assert credit(0.85, linear) == 0.0
    step = AccuracyCheck(kind="accuracy", target=0.98, floor=0.90, curve="step")
    assert credit(0.979, step) == 0.0 and credit(0.98, step) == 1.0
