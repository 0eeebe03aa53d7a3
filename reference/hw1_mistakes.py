"""Typical wrong answers to hw1, used by the grader to diagnose a failing submission.

Each function ``<graded function>__<mistake id>`` has the graded function's exact signature and
implements one realistic student mistake. Its docstring is one sentence addressed to the student,
shown as the diagnosis when the student's output matches it. Every mistake is deterministic and
differs clearly (relative difference > 1e-3) from the reference on generic random inputs; a few
can only differ on inputs that exercise the mistaken part, as noted in a comment.
"""

from __future__ import annotations

import numpy as np


def _sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softmax(x: np.ndarray, beta: float = 1.0) -> np.ndarray:
    z = beta * np.asarray(x, dtype=np.float64)
    e = np.exp(z - z.max())
    return e / e.sum()


# --------------------------------------------------------------------------- sigmoid


def sigmoid__sign_flipped(x):
    """Your sigmoid computes 1/(1 + exp(x)) instead of 1/(1 + exp(-x)): the sign in the exponent is flipped."""
    return _sigmoid(-np.asarray(x, dtype=np.float64))


def sigmoid__tanh(x):
    """You returned tanh(x), but the sigmoid is 1/(1 + exp(-x)) = (1 + tanh(x/2))/2."""
    return np.tanh(np.asarray(x, dtype=np.float64))


def sigmoid__missing_reciprocal(x):
    """You returned the denominator 1 + exp(-x) instead of its reciprocal 1/(1 + exp(-x))."""
    return 1.0 + np.exp(-np.asarray(x, dtype=np.float64))


# --------------------------------------------------------------------------- sigmoid_backward


def sigmoid_backward__ignores_grad_out(x_in, grad_out):
    """You returned the local derivative S(x_in)*(1 - S(x_in)) but forgot to multiply it by grad_out (the chain rule)."""
    s = _sigmoid(x_in)
    return s * (1.0 - s)


def sigmoid_backward__x_in_as_output(x_in, grad_out):
    """You used x_in where the sigmoid output belongs: dE/dx_in is grad_out*S(x_in)*(1 - S(x_in)), not grad_out*x_in*(1 - x_in)."""
    x_in = np.asarray(x_in, dtype=np.float64)
    return np.asarray(grad_out, dtype=np.float64) * x_in * (1.0 - x_in)


def sigmoid_backward__missing_one_minus(x_in, grad_out):
    """You multiplied grad_out by S(x_in) only; the sigmoid's derivative is S(x_in)*(1 - S(x_in))."""
    return np.asarray(grad_out, dtype=np.float64) * _sigmoid(x_in)


# --------------------------------------------------------------------------- softmax


def softmax__negative_beta(x, beta=1.0):
    """Your softmax uses exp(-beta*x_j) instead of exp(beta*x_j), so larger inputs get smaller probabilities."""
    return _softmax(x, -beta)


# Differs from the reference only when beta != 1.
def softmax__ignores_beta(x, beta=1.0):
    """Your softmax ignores the inverse temperature beta: it must compute exp(beta*x_j)/sum_i exp(beta*x_i)."""
    return _softmax(x, 1.0)


# Differs from the reference only when beta != 1.
def softmax__beta_outside_exp(x, beta=1.0):
    """You multiplied the softmax by beta instead of putting beta inside the exponentials: y_j = exp(beta*x_j)/sum_i exp(beta*x_i)."""
    return beta * _softmax(x, 1.0)


# --------------------------------------------------------------------------- softmax_jacobian


def softmax_jacobian__diagonal_sign(x, beta=1.0):
    """Your Jacobian's diagonal has the wrong sign: d y_j / d x_j is beta*y_j*(1 - y_j), not -beta*y_j*(1 - y_j)."""
    y = _softmax(x, beta)
    return -beta * np.diag(y * (1.0 - y)) - beta * (np.outer(y, y) - np.diag(y * y))


def softmax_jacobian__off_diagonal_sign(x, beta=1.0):
    """Your Jacobian's off-diagonal entries have the wrong sign: d y_j / d x_i is -beta*y_j*y_i for i != j."""
    y = _softmax(x, beta)
    return beta * np.diag(y * (1.0 - y)) + beta * (np.outer(y, y) - np.diag(y * y))


def softmax_jacobian__diagonal_only(x, beta=1.0):
    """You kept only the diagonal of the Jacobian, but each y_j also depends on every other x_i: d y_j / d x_i = -beta*y_j*y_i."""
    y = _softmax(x, beta)
    return beta * np.diag(y * (1.0 - y))


# Differs from the reference only when beta != 1.
def softmax_jacobian__missing_beta(x, beta=1.0):
    """Your Jacobian lacks the factor beta from the chain rule: J = beta*(diag(y) - y y^T)."""
    y = _softmax(x, beta)
    return np.diag(y) - np.outer(y, y)


# --------------------------------------------------------------------------- linear_forward


def linear_forward__missing_bias(x, W, b):
    """You forgot to add the bias: y = x @ W.T + b."""
    return np.asarray(x, dtype=np.float64) @ np.asarray(W, dtype=np.float64).T


def linear_forward__bias_subtracted(x, W, b):
    """You subtracted the bias instead of adding it: y = x @ W.T + b."""
    return np.asarray(x, dtype=np.float64) @ np.asarray(W, dtype=np.float64).T - b


def linear_forward__transposed_output(x, W, b):
    """Your output is transposed: it must have shape (N, K), one row per sample, not (K, N)."""
    return np.asarray(W, dtype=np.float64) @ np.asarray(x, dtype=np.float64).T + np.asarray(b)[:, None]


# --------------------------------------------------------------------------- linear_backward


def _linear_grads(x, W, grad_y):
    x, W, grad_y = (np.asarray(a, dtype=np.float64) for a in (x, W, grad_y))
    return grad_y @ W, grad_y.T @ x, grad_y.sum(axis=0)


def linear_backward__grad_W_transposed(x, W, b, grad_y):
    """Your grad_W is transposed: it must have W's shape (K, D) and equal grad_y.T @ x, not x.T @ grad_y."""
    gx, gW, gb = _linear_grads(x, W, grad_y)
    return gx, gW.T, gb


def linear_backward__grad_W_mean(x, W, b, grad_y):
    """Your grad_W divides by the batch size, but L already includes any averaging in grad_y: grad_W = grad_y.T @ x."""
    gx, gW, gb = _linear_grads(x, W, grad_y)
    return gx, gW / np.shape(x)[0], gb


def linear_backward__grad_b_mean(x, W, b, grad_y):
    """Your grad_b averages grad_y over the batch, but the bias is shared by all samples, so its gradient is the sum over the batch."""
    gx, gW, gb = _linear_grads(x, W, grad_y)
    return gx, gW, gb / np.shape(x)[0]


def linear_backward__grad_b_not_summed(x, W, b, grad_y):
    """You returned grad_y itself as grad_b; grad_b must have shape (K,), the sum of grad_y over the batch."""
    gx, gW, _ = _linear_grads(x, W, grad_y)
    return gx, gW, np.array(grad_y, dtype=np.float64)
