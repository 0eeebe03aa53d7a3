"""hw4 as the handout states it: the worked values are among the graded cases and the reference
reproduces them; answers that compute nothing (zeros, the input echoed) earn no point anywhere.

The example students, the self-test of every declared mistake and the kit are covered with the other
assignments (test_examples.py, tests/kit/)."""

from __future__ import annotations

import importlib.util
import math
import types
from pathlib import Path

import numpy as np
import pytest

from grader.grading.expectations import ReferenceExpectations
from grader.grading.runner import grade_problem
from grader.sandbox.session import InProcessSession
from grader.spec import load_spec

from conftest import ROOT


@pytest.fixture(scope="module")
def hw4() -> tuple:
    assignment = load_spec("hw4")
    return assignment, ReferenceExpectations(assignment)


def test_the_handouts_worked_values_are_graded_cases(hw4: tuple) -> None:
    """The numbers below are the handout's (handout-hw4.md, "Worked values"), rounded as it prints them."""
    assignment, expectations = hw4
    affine = assignment.problem("affine_forward")
    (out,) = expectations.expected(affine, affine.case("worked"))
    np.testing.assert_allclose(out, [[1.49834967, 1.70660132, 1.91485297], [3.25553199, 3.5141327, 3.77273342]],
                               rtol=1e-7)
    sgd = assignment.problem("sgd_momentum")
    next_w, _ = expectations.expected(sgd, sgd.case("worked"))
    np.testing.assert_allclose(next_w[0], [0.1406, 0.20738947, 0.27417895, 0.34096842, 0.40775789], rtol=1e-7)
    loss = assignment.problem("softmax_loss")
    value, _ = expectations.expected(loss, loss.case("equal_scores"))
    assert value == pytest.approx(math.log(10)) and round(value, 6) == 2.302585


def test_every_problem_is_named_after_the_handouts_function_or_class(hw4: tuple) -> None:
    assignment, expectations = hw4
    reference = expectations.reference_module
    assert [p.id for p in assignment.problems] == [
        "affine_forward", "affine_backward", "relu_forward", "relu_backward", "batchnorm_forward",
        "batchnorm_backward", "dropout_forward", "dropout_backward", "conv_forward_naive", "conv_backward_naive",
        "softmax_loss", "sgd_momentum", "adam", "TwoLayerNet", "Linear", "Tanh", "CrossEntropyLoss", "SGD",
        "BatchNorm1d", "ThreeLayerConvNet", "scaled_dot_product_attention",
    ]
    assert all(callable(getattr(reference, p.id)) for p in assignment.problems)


@pytest.mark.parametrize("kind", ["zeros", "echo"])
def test_answers_that_compute_nothing_score_zero_everywhere(hw4: tuple, kind: str) -> None:
    assignment, expectations = hw4
    spec = importlib.util.spec_from_file_location("hw4", ROOT / "tests" / "data" / "degenerate" / "hw4.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.DEGENERATE = kind
    scored = {}
    for problem in assignment.problems:
        result = grade_problem(assignment, problem, InProcessSession({"hw4": module}, root=Path(".")), expectations,
                               "grade")
        scored[problem.id] = result.score
    assert scored == dict.fromkeys(scored, 0.0)


@pytest.mark.parametrize("wrap", [lambda loss: np.array([[loss]]), np.float64], ids=["(1, 1) array", "numpy scalar"])
def test_a_loss_returned_as_a_single_element_array_is_accepted_as_the_handout_says(hw4: tuple, wrap) -> None:
    assignment, expectations = hw4
    reference = expectations.reference_module
    module = types.ModuleType("hw4")
    module.__dict__.update(vars(reference))

    def softmax_loss(x, y):
        loss, dx = reference.softmax_loss(x, y)
        return wrap(loss), dx

    module.softmax_loss = softmax_loss
    problem = assignment.problem("softmax_loss")
    result = grade_problem(assignment, problem, InProcessSession({"hw4": module}, root=Path(".")), expectations, "grade")
    assert result.passed, result.failure
