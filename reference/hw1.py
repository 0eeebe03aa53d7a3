"""Reference implementation of hw1 (backpropagation), the instructor's solution.

Every graded function of the handout's hw1 table is here with the handout's exact signature, in
pure NumPy float64. The functions never modify their inputs and emit no NumPy floating-point
warning, even under ``np.errstate(all="raise")``: the functions that exponentiate ignore underflow
locally, because an ``exp`` that underflows to 0 is the correctly rounded value, not an error.

The ``*_objective`` functions are the scalar objectives the grader differentiates numerically
(central finite differences in float64) to check a student's analytic gradient. Each takes the
same positional arguments as the graded function it serves and returns a Python float.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "sigmoid",
    "sigmoid_backward",
    "softmax",
    "softmax_jacobian",
    "linear_forward",
    "linear_backward",
    "sigmoid_backward_objective",
    "linear_backward_objective",
]


def _f64(a: object) -> np.ndarray:
    """``a`` as a float64 array (no copy when it already is one; callers never write into it)."""
    return np.asarray(a, dtype=np.float64)


# --------------------------------------------------------------------------- graded functions


@np.errstate(under="ignore")
def sigmoid(x: np.ndarray) -> np.ndarray:
    """Elementwise ``1 / (1 + exp(-x))``, finite and warning-free for any finite ``x``.

    Uses ``e = exp(-|x|) <= 1``: ``1 / (1 + e)`` for ``x >= 0`` and ``e / (1 + e)`` for ``x < 0``,
    so ``exp`` never overflows.
    """
    x = _f64(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@np.errstate(under="ignore")
def sigmoid_backward(x_in: np.ndarray, grad_out: np.ndarray) -> np.ndarray:
    """``dE/dx_in = grad_out * S(x_in) * (1 - S(x_in))`` for ``x_out = S(x_in)``."""
    x_in = _f64(x_in)
    e = np.exp(-np.abs(x_in))
    # S(x) * (1 - S(x)) = e / (1 + e)**2 for either sign of x; no cancellation in 1 - S(x).
    return _f64(grad_out) * (e / (1.0 + e) ** 2)


@np.errstate(under="ignore")
def softmax(x: np.ndarray, beta: float = 1.0) -> np.ndarray:
    """``y_j = exp(beta*x_j) / sum_i exp(beta*x_i)`` of a vector, shifted by the max for stability."""
    z = float(beta) * _f64(x)
    z = z - np.max(z)
    e = np.exp(z)
    return e / np.sum(e)


@np.errstate(under="ignore")
def softmax_jacobian(x: np.ndarray, beta: float = 1.0) -> np.ndarray:
    """``J[j, i] = d y_j / d x_i = beta * y_j * (delta_ji - y_i)`` for ``y = softmax(x, beta)``."""
    y = softmax(x, beta)
    return float(beta) * (np.diag(y) - np.outer(y, y))


def linear_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``y = x @ W.T + b`` with ``x (N, D)``, ``W (K, D)``, ``b (K,)``; returns ``(N, K)``."""
    return _f64(x) @ _f64(W).T + _f64(b)


def linear_backward(
    x: np.ndarray, W: np.ndarray, b: np.ndarray, grad_y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(grad_x (N, D), grad_W (K, D), grad_b (K,))`` of ``L`` given ``grad_y = dL/dy (N, K)``."""
    x, W, grad_y = _f64(x), _f64(W), _f64(grad_y)
    grad_x = grad_y @ W
    grad_W = grad_y.T @ x
    grad_b = grad_y.sum(axis=0)
    return grad_x, grad_W, grad_b


# --------------------------------------------------------------------------- gradient objectives


def sigmoid_backward_objective(x_in: np.ndarray, grad_out: np.ndarray) -> float:
    """``sum(sigmoid(x_in) * grad_out)``: its gradient in ``x_in`` is ``sigmoid_backward``."""
    return float(np.sum(sigmoid(x_in) * _f64(grad_out)))


def linear_backward_objective(
    x: np.ndarray, W: np.ndarray, b: np.ndarray, grad_y: np.ndarray
) -> float:
    """``sum(linear_forward(x, W, b) * grad_y)``: its gradients are ``linear_backward``."""
    return float(np.sum(linear_forward(x, W, b) * _f64(grad_y)))
