"""Reference implementation of hw2 (probabilities and losses), the instructor's solution.

Every graded function of the handout's hw2 table is here with the handout's exact signature, in
pure NumPy float64. The functions never modify their inputs and emit no NumPy floating-point
warning on the inputs the handout describes, even under ``np.errstate(all="raise")``: the functions
that exponentiate ignore underflow locally, because an ``exp`` that underflows to 0 is the
correctly rounded value, not an error.

Domains assumed (as in the handout): ``odds`` and ``logit`` take probabilities strictly between 0
and 1; ``kl_divergence`` and ``kl_grad_q`` take ``q`` with every ``q_d > 0`` (and, for
``direction == "qp"``, ``p`` with every ``p_d > 0``, since ``log(q_d / p_d)`` is then needed).

The ``*_objective`` functions are the scalar objectives the grader differentiates numerically
(central finite differences in float64) to check a student's analytic gradient. Each takes the
same positional arguments as the graded function it serves and returns a Python float.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "odds",
    "logit",
    "inverse_logit",
    "sigmoid_grad",
    "normalize",
    "kl_divergence",
    "kl_grad_q",
    "hinge_loss",
    "softmax_loss",
    "softmax_loss_grad",
    "sigmoid_grad_objective",
    "kl_grad_q_objective",
    "softmax_loss_grad_objective",
]


def _f64(a: object) -> np.ndarray:
    """``a`` as a float64 array (no copy when it already is one; callers never write into it)."""
    return np.asarray(a, dtype=np.float64)


@np.errstate(under="ignore")
def _logsumexp_rows(s: np.ndarray) -> np.ndarray:
    """``log(sum(exp(s), axis=-1))`` shifted by the row max, so it never overflows."""
    m = np.max(s, axis=-1, keepdims=True)
    return (m + np.log(np.sum(np.exp(s - m), axis=-1, keepdims=True)))[..., 0]


# --------------------------------------------------------------------------- graded functions


def odds(p: np.ndarray) -> np.ndarray:
    """``p / (1 - p)`` elementwise, for probabilities ``0 < p < 1``."""
    p = _f64(p)
    return p / (1.0 - p)


def logit(p: np.ndarray) -> np.ndarray:
    """``log(odds(p)) = log(p) - log(1 - p)`` elementwise, for ``0 < p < 1``."""
    p = _f64(p)
    return np.log(p) - np.log1p(-p)


@np.errstate(under="ignore")
def inverse_logit(x: np.ndarray) -> np.ndarray:
    """The sigmoid ``1 / (1 + exp(-x))``, the inverse of ``logit``; finite for any finite ``x``."""
    x = _f64(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@np.errstate(under="ignore")
def sigmoid_grad(x: np.ndarray) -> np.ndarray:
    """``S'(x) = S(x) * (1 - S(x)) = e / (1 + e)**2`` with ``e = exp(-|x|)``; finite for any ``x``."""
    e = np.exp(-np.abs(_f64(x)))
    return e / (1.0 + e) ** 2


def normalize(counts: np.ndarray) -> np.ndarray:
    """The probability distribution ``counts / sum(counts)`` of non-negative counts."""
    counts = _f64(counts)
    return counts / np.sum(counts)


@np.errstate(under="ignore")
def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """``sum_d p_d * log(p_d / q_d)``, natural log; terms with ``p_d = 0`` count as 0.

    ``q_d > 0`` is assumed wherever ``p_d > 0`` (otherwise the divergence is ``inf``, returned
    without a warning).
    """
    p, q = _f64(p), _f64(q)
    mask = p > 0
    pm, qm = p[mask], q[mask]
    with np.errstate(divide="ignore"):
        return float(np.sum(pm * (np.log(pm) - np.log(qm))))


def kl_grad_q(p: np.ndarray, q: np.ndarray, direction: str) -> np.ndarray:
    """Gradient with respect to ``q`` (every ``q_d`` a free variable) of a KL divergence.

    ``direction == "pq"``: ``d/dq KL(p||q) = -p / q`` (``q > 0``).
    ``direction == "qp"``: ``d/dq KL(q||p) = log(q / p) + 1`` (``q > 0`` and ``p > 0``).
    Any other ``direction`` raises ``ValueError``.
    """
    p, q = _f64(p), _f64(q)
    if direction == "pq":
        return -p / q
    if direction == "qp":
        return np.log(q) - np.log(p) + 1.0
    raise ValueError(f"direction must be 'pq' or 'qp', not {direction!r}")


def hinge_loss(scores: np.ndarray, y: int, margin: float = 1.0) -> float:
    """Multiclass SVM loss ``sum_{j != y} max(0, scores[j] - scores[y] + margin)`` of one sample."""
    scores = _f64(scores)
    y = int(y)
    others = np.arange(scores.shape[0]) != y
    return float(np.sum(np.maximum(0.0, scores[others] - scores[y] + float(margin))))


def softmax_loss(scores: np.ndarray, y: int) -> float:
    """Cross-entropy ``-log(softmax(scores)[y]) = logsumexp(scores) - scores[y]`` of one sample."""
    scores = _f64(scores)
    return float(_logsumexp_rows(scores) - scores[int(y)])


@np.errstate(under="ignore")
def softmax_loss_grad(
    x: np.ndarray, W: np.ndarray, b: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(grad_W (K, D), grad_b (K,))`` of the batch mean of ``softmax_loss(x[n] @ W.T + b, y[n])``.

    With ``P`` the row softmax of the scores and ``Y`` the one-hot labels, the gradient of the mean
    loss with respect to the scores is ``(P - Y) / N``.
    """
    x, W, b = _f64(x), _f64(W), _f64(b)
    y = np.asarray(y).astype(np.intp)
    n = x.shape[0]
    s = x @ W.T + b
    p = np.exp(s - _logsumexp_rows(s)[:, None])
    p[np.arange(n), y] -= 1.0
    p /= n
    return p.T @ x, p.sum(axis=0)


# --------------------------------------------------------------------------- gradient objectives


def sigmoid_grad_objective(x: np.ndarray) -> float:
    """``sum(inverse_logit(x))``: its gradient in ``x`` is ``sigmoid_grad(x)``."""
    return float(np.sum(inverse_logit(x)))


@np.errstate(under="ignore")
def kl_grad_q_objective(p: np.ndarray, q: np.ndarray, direction: str) -> float:
    """``KL(p||q)`` for ``"pq"``, ``KL(q||p)`` for ``"qp"``; ``q`` is free (never renormalised).

    Terms whose weight (``p_d`` for ``"pq"``, ``q_d`` for ``"qp"``) is 0 count as 0.
    """
    p, q = _f64(p), _f64(q)
    if direction == "pq":
        w, a, c = p, p, q
    elif direction == "qp":
        w, a, c = q, q, p
    else:
        raise ValueError(f"direction must be 'pq' or 'qp', not {direction!r}")
    mask = w != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.sum(w[mask] * (np.log(a[mask]) - np.log(c[mask]))))


def softmax_loss_grad_objective(
    x: np.ndarray, W: np.ndarray, b: np.ndarray, y: np.ndarray
) -> float:
    """Mean over ``n`` of ``softmax_loss(x[n] @ W.T + b, y[n])``: its gradients are ``softmax_loss_grad``."""
    x, W, b = _f64(x), _f64(W), _f64(b)
    y = np.asarray(y).astype(np.intp)
    s = x @ W.T + b
    losses = _logsumexp_rows(s) - s[np.arange(s.shape[0]), y]
    return float(np.mean(losses))
