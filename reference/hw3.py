"""Reference implementation of hw3 (convolutions, optimisation, embeddings), the instructor's solution.

Every graded function of the handout's hw3 table is here with the handout's exact signature, in
pure NumPy float64. The functions never modify their inputs and emit no NumPy floating-point
warning on the inputs the handout describes, even under ``np.errstate(all="raise")``: the functions
that exponentiate or raise to powers ignore underflow locally, because a result that underflows
to 0 is the correctly rounded value, not an error.

Conventions: pooling windows are ``k x k``, start every ``stride`` rows and columns, no padding,
``H' = (H - k) // stride + 1``; ``conv2d`` is the "valid" cross-correlation (no kernel flip, as in
PyTorch); ``lp_pool2d`` equals ``torch.nn.functional.lp_pool2d`` for non-negative input.
``sne_grad`` and ``tsne_grad`` return the exact gradient of the cost ``C`` the handout defines; for
``P`` symmetric with zero diagonal summing to 1 it is the textbook
``4 * sum_j (P_ij - Q_ij) (y_i - y_j)`` (times ``(1 + |y_i - y_j|^2)^-1`` for t-SNE).

The ``*_objective`` functions are the scalar objectives the grader differentiates numerically
(central finite differences in float64) to check a student's analytic gradient. Each takes the
same positional arguments as the graded function it serves and returns a Python float.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "chain_rule",
    "max_pool2d",
    "avg_pool2d",
    "lp_pool2d",
    "conv2d",
    "conv2d_backward",
    "autoencoder_loss",
    "sgd_momentum_step",
    "topk_error",
    "sne_grad",
    "tsne_grad",
    "soft_threshold",
    "ista_step",
    "chain_rule_objective",
    "conv2d_backward_objective",
    "autoencoder_loss_objective",
    "sne_grad_objective",
    "tsne_grad_objective",
]


def _f64(a: object) -> np.ndarray:
    """``a`` as a float64 array (no copy when it already is one; callers never write into it)."""
    return np.asarray(a, dtype=np.float64)


@np.errstate(under="ignore")
def _sigmoid(x: np.ndarray | float) -> np.ndarray:
    """Stable elementwise sigmoid: ``exp`` only ever sees ``-|x|``."""
    x = _f64(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _windows(x: np.ndarray, k: int, stride: int) -> np.ndarray:
    """Read-only view ``(H', W', k, k)`` of the ``k x k`` windows of ``x`` every ``stride``."""
    k, stride = int(k), int(stride)
    return sliding_window_view(_f64(x), (k, k))[::stride, ::stride]


def _sq_dists(Y: np.ndarray) -> np.ndarray:
    """``D[i, j] = |y_i - y_j|^2`` computed from differences (exact zeros on the diagonal)."""
    diff = Y[:, None, :] - Y[None, :, :]
    return np.sum(diff * diff, axis=-1)


# --------------------------------------------------------------------------- graded functions


def chain_rule(x: float, y: float) -> tuple[float, float, float]:
    """``(f, df_dx, df_dy)`` of ``f = (x**2 + S(y)) / (3*x + y - S(x))``, ``S`` the sigmoid."""
    x, y = float(x), float(y)
    sx, sy = float(_sigmoid(x)), float(_sigmoid(y))
    num = x * x + sy
    den = 3.0 * x + y - sx
    f = num / den
    dnum_dx, dden_dx = 2.0 * x, 3.0 - sx * (1.0 - sx)
    dnum_dy, dden_dy = sy * (1.0 - sy), 1.0
    df_dx = (dnum_dx * den - num * dden_dx) / den**2
    df_dy = (dnum_dy * den - num * dden_dy) / den**2
    return f, df_dx, df_dy


def max_pool2d(x: np.ndarray, k: int, stride: int) -> np.ndarray:
    """Max over each ``k x k`` window of ``x (H, W)``, windows every ``stride``; ``(H', W')``."""
    return _windows(x, k, stride).max(axis=(-2, -1))


def avg_pool2d(x: np.ndarray, k: int, stride: int) -> np.ndarray:
    """Mean over each ``k x k`` window, same windows as ``max_pool2d``; ``(H', W')``."""
    return _windows(x, k, stride).mean(axis=(-2, -1))


@np.errstate(under="ignore")
def lp_pool2d(x: np.ndarray, p: float, k: int, stride: int) -> np.ndarray:
    """``(sum over the window of x**p) ** (1/p)`` for non-negative ``x``, as PyTorch's ``LPPool2d``."""
    p = float(p)
    return (_windows(x, k, stride) ** p).sum(axis=(-2, -1)) ** (1.0 / p)


def conv2d(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """"Valid" cross-correlation of ``x (H, W)`` with ``w (kh, kw)``: ``(H-kh+1, W-kw+1)``.

    ``out[i, j] = sum_{a, b} x[i + a, j + b] * w[a, b]`` (no kernel flip, no padding, stride 1).
    """
    w = _f64(w)
    win = sliding_window_view(_f64(x), w.shape)
    return np.einsum("ijab,ab->ij", win, w)


def conv2d_backward(
    x: np.ndarray, w: np.ndarray, grad_out: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(grad_x (H, W), grad_w (kh, kw))`` of ``L`` given ``grad_out = dL/d conv2d(x, w)``.

    ``grad_w`` is the valid cross-correlation of ``x`` with ``grad_out``; ``grad_x`` is the "full"
    convolution of ``grad_out`` with ``w`` (each ``w[a, b] * grad_out`` added at offset ``(a, b)``).
    """
    x, w, g = _f64(x), _f64(w), _f64(grad_out)
    kh, kw = w.shape
    ho, wo = g.shape
    grad_w = np.einsum("ijab,ij->ab", sliding_window_view(x, (kh, kw)), g)
    grad_x = np.zeros_like(x)
    for a in range(kh):
        for c in range(kw):
            grad_x[a : a + ho, c : c + wo] += w[a, c] * g
    return grad_x, grad_w


@np.errstate(under="ignore")
def autoencoder_loss(
    x: np.ndarray, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """``(J, grads)`` of ``J = sum((W2 @ S(W1 @ x + b1) + b2 - x)**2)`` for one sample ``x (D,)``.

    ``grads`` maps ``"W1" (H, D)``, ``"b1" (H,)``, ``"W2" (D, H)``, ``"b2" (D,)`` to the gradient
    of ``J`` with respect to that parameter (``x`` is both the input and the target).
    """
    x, W1, b1, W2, b2 = (_f64(a) for a in (x, W1, b1, W2, b2))
    h = _sigmoid(W1 @ x + b1)
    r = W2 @ h + b2 - x
    J = float(np.sum(r * r))
    d_out = 2.0 * r
    d_pre = (W2.T @ d_out) * h * (1.0 - h)
    grads = {
        "W1": np.outer(d_pre, x),
        "b1": d_pre,
        "W2": np.outer(d_out, h),
        "b2": d_out,
    }
    return J, grads


def sgd_momentum_step(
    w: np.ndarray, grad: np.ndarray, velocity: np.ndarray, lr: float, momentum: float
) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's SGD with momentum: ``v' = momentum * v + grad``, ``w' = w - lr * v'``; ``(w', v')``."""
    velocity_new = float(momentum) * _f64(velocity) + _f64(grad)
    w_new = _f64(w) - float(lr) * velocity_new
    return w_new, velocity_new


def topk_error(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of rows whose label is not in the top ``k``; ties favour the student.

    A label is in the top ``k`` when fewer than ``k`` scores of its row are strictly greater than
    the label's own score.
    """
    scores = _f64(scores)
    labels = np.asarray(labels).astype(np.intp)
    own = scores[np.arange(scores.shape[0]), labels]
    n_greater = np.sum(scores > own[:, None], axis=1)
    return float(np.mean(n_greater >= int(k)))


@np.errstate(under="ignore")
def _sne_parts(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(Q, log Q)`` of symmetric SNE (Gaussian kernel); the diagonal of both is 0."""
    D = _sq_dists(Y)
    off = ~np.eye(D.shape[0], dtype=bool)
    logits = -(D - D[off].min())  # shifted so the largest kernel value is 1: Z >= 1, no overflow
    np.fill_diagonal(logits, -np.inf)  # exp(-inf) = 0: the diagonal takes no part
    W = np.exp(logits)
    z = W.sum()
    return W / z, np.where(off, logits - np.log(z), 0.0)


def _tsne_parts(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(kernel, Q, log Q)`` of t-SNE (Student-t kernel); the diagonal of all three is 0."""
    D = _sq_dists(Y)
    off = ~np.eye(D.shape[0], dtype=bool)
    K = np.where(off, 1.0 / (1.0 + D), 0.0)
    z = K.sum()
    return K, K / z, np.where(off, -np.log1p(D) - np.log(z), 0.0)


def _pairwise_force(G: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """``F_i = sum_j G_ij (y_i - y_j)``."""
    return G.sum(axis=1)[:, None] * Y - G @ Y


@np.errstate(under="ignore")
def _kl_cost(P: np.ndarray, log_q: np.ndarray) -> float:
    """``sum_{i != j, P_ij > 0} P_ij (log P_ij - log Q_ij)``."""
    mask = P > 0
    np.fill_diagonal(mask, False)
    Pm = P[mask]
    return float(np.sum(Pm * (np.log(Pm) - log_q[mask])))


@np.errstate(under="ignore")
def sne_grad(P: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Gradient ``(n, d)`` of the symmetric-SNE cost with respect to the embedding ``Y``.

    Exactly ``2 * sum_j (P_ij + P_ji - 2 * sum(P) * Q_ij) (y_i - y_j)``, which is
    ``4 * sum_j (P_ij - Q_ij) (y_i - y_j)`` for the handout's ``P`` (symmetric, sums to 1).
    """
    P, Y = _f64(P), _f64(Y)
    Q, _ = _sne_parts(Y)
    G = P + P.T - 2.0 * P.sum() * Q
    np.fill_diagonal(G, 0.0)
    return 2.0 * _pairwise_force(G, Y)


@np.errstate(under="ignore")
def tsne_grad(P: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Gradient ``(n, d)`` of the t-SNE cost with respect to the embedding ``Y``.

    Exactly ``2 * sum_j (P_ij + P_ji - 2 * sum(P) * Q_ij) (1 + |y_i - y_j|^2)^-1 (y_i - y_j)``,
    which is ``4 * sum_j (P_ij - Q_ij) (1 + |y_i - y_j|^2)^-1 (y_i - y_j)`` for the handout's ``P``.
    """
    P, Y = _f64(P), _f64(Y)
    K, Q, _ = _tsne_parts(Y)
    G = (P + P.T - 2.0 * P.sum() * Q) * K
    np.fill_diagonal(G, 0.0)
    return 2.0 * _pairwise_force(G, Y)


def soft_threshold(x: np.ndarray, t: float) -> np.ndarray:
    """Proximal operator of ``t * ||.||_1``: ``sign(x) * max(|x| - t, 0)``."""
    x = _f64(x)
    return np.sign(x) * np.maximum(np.abs(x) - float(t), 0.0)


def ista_step(x: np.ndarray, A: np.ndarray, b: np.ndarray, lam: float, step: float) -> np.ndarray:
    """One proximal-gradient step for ``0.5 * ||A x - b||^2 + lam * ||x||_1``; shape ``(n,)``."""
    x, A, b = _f64(x), _f64(A), _f64(b)
    z = x - float(step) * (A.T @ (A @ x - b))
    return soft_threshold(z, float(step) * float(lam))


# --------------------------------------------------------------------------- gradient objectives


def chain_rule_objective(x: float, y: float) -> float:
    """``f(x, y) = (x**2 + S(y)) / (3*x + y - S(x))``: its partial derivatives are ``chain_rule``'s."""
    return chain_rule(x, y)[0]


def conv2d_backward_objective(x: np.ndarray, w: np.ndarray, grad_out: np.ndarray) -> float:
    """``sum(conv2d(x, w) * grad_out)``: its gradients in ``x`` and ``w`` are ``conv2d_backward``."""
    return float(np.sum(conv2d(x, w) * _f64(grad_out)))


def autoencoder_loss_objective(
    x: np.ndarray, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray
) -> float:
    """``J`` of ``autoencoder_loss``: its gradients in ``W1, b1, W2, b2`` are the ``grads`` dict."""
    return autoencoder_loss(x, W1, b1, W2, b2)[0]


def sne_grad_objective(P: np.ndarray, Y: np.ndarray) -> float:
    """The symmetric-SNE cost ``sum_{i != j} P_ij log(P_ij / Q_ij)``, terms with ``P_ij = 0`` as 0."""
    P, Y = _f64(P), _f64(Y)
    return _kl_cost(P, _sne_parts(Y)[1])


def tsne_grad_objective(P: np.ndarray, Y: np.ndarray) -> float:
    """The t-SNE cost ``sum_{i != j} P_ij log(P_ij / Q_ij)``, terms with ``P_ij = 0`` as 0."""
    P, Y = _f64(P), _f64(Y)
    return _kl_cost(P, _tsne_parts(Y)[2])
