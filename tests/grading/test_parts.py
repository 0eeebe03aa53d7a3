"""Credit by part: a check over several returned parts scores each on its own, both ways.

A right part earns its share, a wrong part nothing, a part right but shaped (1, D) where (D,) is
asked exactly the spec's shape_credit; a part whose reference value an answer knowing nothing gets
right (zeros, the input handed back) earns nothing alone, so degenerate answers still score 0.
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
from grader.grading.selftest import check_degenerates
from grader.results import ProblemResult
from grader.sandbox.session import InProcessSession
from grader.spec import load_spec

REFERENCE = '''
import numpy as np

def scale_shift_backward(dout, x, gamma, beta):
    return dout * gamma, (dout * x).sum(axis=0), dout.sum(axis=0)

def objective(dout, x, gamma, beta):
    return float(np.sum((x * gamma + beta) * dout))

def copy_and_double(x):
    return x.copy(), 2 * x
'''

ARGS = {"dout": {"random": "normal", "shape": [4, 3], "seed": 1}, "x": {"random": "normal", "shape": [4, 3], "seed": 2},
        "gamma": {"random": "normal", "shape": [3], "seed": 3}, "beta": {"random": "normal", "shape": [3], "seed": 4}}


def backward_problem(shape_credit: float | None = None, dout: Any = None) -> dict[str, Any]:
    extra = {} if shape_credit is None else {"shape_credit": shape_credit}
    args = ARGS if dout is None else {**ARGS, "dout": dout}
    return {
        "id": "scale_shift_backward", "points": 6, "returns": ["dx", "dgamma", "dbeta"],
        "cases": [{"name": "pub", "visibility": "public", "args": args},
                  {"name": "secret", "args": {**args, "x": {"random": "normal", "shape": [4, 3], "seed": 5}}}],
        "checks": [{"kind": "value", **extra},
                   {"kind": "gradient", "function": "objective", "wrt": {"x": "dx", "gamma": "dgamma", "beta": "dbeta"},
                    **extra}],
    }


def load(tmp_path: Path, problem: dict[str, Any]) -> Any:
    (tmp_path / "ref.py").write_text(REFERENCE)
    spec = {"schema_version": 1, "assignment": "t", "module": "student", "reference": "ref.py", "problems": [problem]}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_spec(tmp_path / "t.yaml")


def grade(tmp_path: Path, problem: dict[str, Any], function: Callable[..., Any]) -> ProblemResult:
    assignment = load(tmp_path, problem)
    module = types.ModuleType("student")
    setattr(module, assignment.problems[0].function_name, function)
    return grade_problem(assignment, assignment.problems[0], InProcessSession({"student": module}),
                         ReferenceExpectations(assignment), "grade")


def right(dout: np.ndarray, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, ...]:
    return dout * gamma, np.einsum("nd,nd->d", dout, x), np.add.reduce(dout, axis=0)


def keepdims(dout: np.ndarray, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, ...]:
    return dout * gamma, (dout * x).sum(axis=0, keepdims=True), dout.sum(axis=0, keepdims=True)


def wrong_dbeta(dout: np.ndarray, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, ...]:
    dx, dgamma, _ = right(dout, x, gamma, beta)
    return dx, dgamma, dout.mean(axis=0)


def test_each_part_earns_on_its_own_and_a_wrong_part_earns_nothing(tmp_path: Path) -> None:
    assert grade(tmp_path, backward_problem(), right).passed
    result = grade(tmp_path, backward_problem(), wrong_dbeta)
    value, gradient = result.checks
    assert value.score == pytest.approx(2 / 3) and gradient.score == pytest.approx(2 / 3)
    assert result.score == pytest.approx(4)
    parts = {part.part: part.credit for part in value.cases[1].parts}  # a hidden case keeps its parts' credit
    assert parts == {"dx": 1.0, "dgamma": 1.0, "dbeta": 0.0}
    assert "dx, dgamma" in value.message


def test_a_part_wrong_on_one_case_earns_nothing(tmp_path: Path) -> None:
    def wrong_on_the_hidden_case(dout: np.ndarray, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> Any:
        dx, dgamma, dbeta = right(dout, x, gamma, beta)
        secret = np.allclose(x, np.random.default_rng(5).normal(0.0, 1.0, (4, 3)))  # the hidden case's x
        return dx, dgamma, dbeta + 1.0 if secret else dbeta

    value = grade(tmp_path, backward_problem(), wrong_on_the_hidden_case).checks[0]
    cases = {case.case: {part.part: part.credit for part in case.parts} for case in value.cases}
    assert cases["pub"]["dbeta"] != cases["secret"]["dbeta"]  # the test's premise: dbeta right on one case only
    assert value.score == pytest.approx(2 / 3)


def test_everything_wrong_scores_zero(tmp_path: Path) -> None:
    result = grade(tmp_path, backward_problem(), lambda dout, x, gamma, beta: tuple(-v for v in right(dout, x, gamma, beta)))
    assert result.score == 0
    raised = grade(tmp_path, backward_problem(), lambda dout, x, gamma, beta: 1 / 0)
    assert raised.score == 0


@pytest.mark.parametrize("shape_credit", [None, 0.0, 0.5])
def test_right_values_shaped_1_by_d_earn_exactly_the_specs_shape_credit(tmp_path: Path, shape_credit: float | None) -> None:
    result = grade(tmp_path, backward_problem(shape_credit), keepdims)
    credit = shape_credit or 0.0
    for check in result.checks:
        assert check.score == pytest.approx((1 + 2 * credit) / 3), check.name  # dx keeps its share whatever the credit
    value = result.checks[0]
    assert "dgamma: values right, shape (1, 3) where (3,) is asked" in value.cases[0].message
    assert {part.part: part.credit for part in value.cases[0].parts} == {"dx": 1.0, "dgamma": credit, "dbeta": credit}


def test_a_wrong_part_in_a_1_by_d_shape_earns_nothing(tmp_path: Path) -> None:
    def wrong_keepdims(dout: np.ndarray, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> Any:
        dx, dgamma, dbeta = keepdims(dout, x, gamma, beta)
        return dx, dgamma, dbeta * 2

    value = grade(tmp_path, backward_problem(0.5), wrong_keepdims).checks[0]
    assert value.score == pytest.approx((1 + 0.5) / 3)


def test_a_part_that_is_legitimately_zero_does_not_pay_a_zeros_answer(tmp_path: Path) -> None:
    """dout whose columns sum to 0: dbeta is 0 on every case, which zeros get right."""
    balanced = {"array": [[1.0, -2.0, 0.5], [-1.0, 2.0, -0.5], [3.0, 1.0, 2.0], [-3.0, -1.0, -2.0]]}
    problem = backward_problem(dout=balanced)

    def zeros_but_dx(dout: np.ndarray, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> Any:
        return dout * gamma * 3, np.zeros(3), np.zeros(3)

    def dx_right(dout: np.ndarray, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> Any:
        return dout * gamma, np.ones(3), np.zeros(3)

    zeros = grade(tmp_path, problem, zeros_but_dx)
    assert zeros.score == 0
    assert all(part.trivial for part in zeros.checks[0].cases[0].parts if part.part == "dbeta")
    earning = grade(tmp_path, problem, dx_right)  # beside a right dx, the right (zero) dbeta earns too
    assert earning.checks[0].score == pytest.approx(2 / 3)
    assignment = load(tmp_path, problem)
    assert check_degenerates(assignment, assignment.problems[0], ReferenceExpectations(assignment), InProcessSession).ok


def test_a_part_equal_to_the_input_earns_nothing_alone(tmp_path: Path) -> None:
    problem = {"id": "copy_and_double", "points": 2, "checks": [{"kind": "value"}],
               "cases": [{"name": "pub", "visibility": "public", "args": {"x": {"random": "normal", "shape": [3], "seed": 6}}}]}
    assert grade(tmp_path, problem, lambda x: (x, np.zeros(3))).score == 0
    assert grade(tmp_path, problem, lambda x: (x + 1, 2 * x)).score == pytest.approx(1)
    assert grade(tmp_path, problem, lambda x: (x, 2 * x)).passed
    assignment = load(tmp_path, problem)
    assert check_degenerates(assignment, assignment.problems[0], ReferenceExpectations(assignment), InProcessSession).ok


def test_shape_credit_is_checked_when_the_spec_loads(tmp_path: Path) -> None:
    from grader.errors import SpecError

    with pytest.raises(SpecError, match="shape_credit"):
        load(tmp_path, backward_problem(1.5))
