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


# Real students' ways of getting hw4 wrong (and right), each written here the way such code is
# written in CS231n and 11-785 solutions, not as the declared variant: each must lose points on its
# own problem, and be named when its values are those of a declared mistake; the conventions must
# keep full marks.


def _conv_backward_unpadding_with_negative_slice(dout, cache):
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    _, _, HH, WW = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), "constant")
    dx_pad, dw = np.zeros_like(x_pad), np.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows, cols = slice(i * stride, i * stride + HH), slice(j * stride, j * stride + WW)
            dw += np.einsum("nf,nchw->fchw", dout[:, :, i, j], x_pad[:, :, rows, cols])
            dx_pad[:, :, rows, cols] += np.einsum("nf,fchw->nchw", dout[:, :, i, j], w)
    return dx_pad[:, :, pad:-pad, pad:-pad], dw, dout.sum(axis=(0, 2, 3))


class _TanhFromExponentials:
    def forward(self, Z):
        self.A = (np.exp(Z) - np.exp(-Z)) / (np.exp(Z) + np.exp(-Z))
        return self.A

    def backward(self, dLdA):
        return dLdA * (1 - self.A * self.A)


class _CrossEntropyWithoutMaxShift:
    def forward(self, A, Y):
        self.A, self.Y = A, Y
        N, C = A.shape
        self.softmax = np.exp(A) / (np.exp(A) @ np.ones((C, 1)))
        return ((np.ones((N, 1)).T @ ((-Y * np.log(self.softmax)) @ np.ones((C, 1)))) / N).item()

    def backward(self):
        return (self.softmax - self.Y) / self.A.shape[0]


class _CrossEntropyLogOfSoftmax(_CrossEntropyWithoutMaxShift):
    def forward(self, A, Y):
        self.A, self.Y = A, Y
        e = np.exp(A - A.max(axis=1, keepdims=True))
        self.softmax = e / e.sum(axis=1, keepdims=True)
        return float(np.sum(-Y * np.log(self.softmax)) / A.shape[0])


class _LinearAccumulating:
    def __init__(self, in_features, out_features):
        self.W = np.zeros((out_features, in_features), dtype="f")
        self.b = np.zeros((out_features, 1), dtype="f")
        self.dLdW = np.zeros((out_features, in_features), dtype="f")
        self.dLdb = np.zeros((out_features, 1), dtype="f")

    def forward(self, A):
        self.A, self.Ones = A, np.ones((A.shape[0], 1))
        return A @ self.W.T + self.Ones @ self.b.T

    def backward(self, dLdZ):
        self.dLdW += dLdZ.T @ self.A
        self.dLdb += dLdZ.T @ self.Ones
        return dLdZ @ self.W


def _softmax_loss_log_sum_exp_without_shift(x, y):
    N = x.shape[0]
    loss = np.sum(np.log(np.sum(np.exp(x), axis=1)) - x[np.arange(N), y]) / N
    dx = np.exp(x) / np.sum(np.exp(x), axis=1, keepdims=True)
    dx[np.arange(N), y] -= 1
    return loss, dx / N


class _SGDOverModelLayers:
    """11-785's shape: model.layers holds only layers with parameters, velocities in float32 lists."""

    def __init__(self, model, lr=0.1, momentum=0):
        self.l, self.L = model.layers, len(model.layers)
        self.lr, self.mu = lr, momentum
        self.v_W = [np.zeros(self.l[i].W.shape, dtype="f") for i in range(self.L)]
        self.v_b = [np.zeros(self.l[i].b.shape, dtype="f") for i in range(self.L)]

    def step(self):
        for i in range(self.L):
            if self.mu == 0:
                self.l[i].W = self.l[i].W - self.lr * self.l[i].dLdW
                self.l[i].b = self.l[i].b - self.lr * self.l[i].dLdb
            else:
                self.v_W[i] = self.mu * self.v_W[i] + self.l[i].dLdW
                self.v_b[i] = self.mu * self.v_b[i] + self.l[i].dLdb
                self.l[i].W = self.l[i].W - self.lr * self.v_W[i]
                self.l[i].b = self.l[i].b - self.lr * self.v_b[i]


REAL_PATTERNS = {
    # problem: (the student's code, the declared mistake it is, or None when only its behaviour is known)
    "conv_backward_naive": (_conv_backward_unpadding_with_negative_slice, "dx_empty_when_pad_0"),
    "Tanh": (_TanhFromExponentials, "not_finite_for_large_z"),
    "CrossEntropyLoss": (_CrossEntropyWithoutMaxShift, "not_finite_for_large_logits"),
    "Linear": (_LinearAccumulating, "gradients_accumulated"),
    "softmax_loss": (_softmax_loss_log_sum_exp_without_shift, None),
}


def _graded_with(hw4: tuple, name: str, code: object):
    assignment, expectations = hw4
    module = types.ModuleType("hw4")
    module.__dict__.update(vars(expectations.reference_module))
    setattr(module, name, code)
    return grade_problem(assignment, assignment.problem(name), InProcessSession({"hw4": module}, root=Path(".")),
                         expectations, "grade")


@pytest.mark.parametrize("problem", sorted(REAL_PATTERNS))
def test_real_mistakes_lose_points_and_are_named(hw4: tuple, problem: str) -> None:
    code, mistake = REAL_PATTERNS[problem]
    with np.errstate(all="ignore"):
        result = _graded_with(hw4, problem, code)
    assert result.score < result.max_score, result.failure
    if mistake is not None:
        assert [d.mistake for d in result.diagnoses] == [mistake]


def test_the_log_of_an_underflowed_softmax_loses_points_as_itself(hw4: tuple) -> None:
    with np.errstate(all="ignore"):
        result = _graded_with(hw4, "CrossEntropyLoss", _CrossEntropyLogOfSoftmax)
    assert 0 < result.score < result.max_score
    assert [d.mistake for d in result.diagnoses] == ["infinite_loss_for_unlikely_class"]


def test_sgd_over_model_layers_as_in_11_785_keeps_full_marks(hw4: tuple) -> None:
    result = _graded_with(hw4, "SGD", _SGDOverModelLayers)
    assert result.passed, result.failure
