"""Typical wrong answers to hw3, used by the grader to diagnose a failing submission.

Each function ``<graded function>__<mistake id>`` has the graded function's exact signature and
implements one realistic student mistake. Its docstring is one sentence addressed to the student,
shown as the diagnosis when the student's output matches it. Every mistake is deterministic and
differs clearly (relative difference > 1e-3) from the reference on generic random inputs; a few
can only differ on inputs that exercise the mistaken part, as noted in a comment.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def _sigmoid(x):
    x = _f64(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _windows(x, k, stride):
    return sliding_window_view(_f64(x), (k, k))[::stride, ::stride]


def _correlate(x, w):
    w = _f64(w)
    return np.einsum("ijab,ab->ij", sliding_window_view(_f64(x), w.shape), w)


# --------------------------------------------------------------------------- chain_rule


def _chain_parts(x, y):
    x, y = float(x), float(y)
    sx, sy = float(_sigmoid(x)), float(_sigmoid(y))
    num, den = x * x + sy, 3.0 * x + y - sx
    return num, den, 2.0 * x, 3.0 - sx * (1.0 - sx), sy * (1.0 - sy), 1.0


def chain_rule__quotient_rule_sign(x, y):
    """Your quotient rule has a plus where a minus belongs: (u/v)' = (u'v - uv')/v**2."""
    num, den, nx, dx, ny, dy = _chain_parts(x, y)
    return num / den, (nx * den + num * dx) / den**2, (ny * den + num * dy) / den**2


def chain_rule__sigmoid_as_constant(x, y):
    """You treated S(x) and S(y) as constants, but they depend on x and y: dS(t)/dt = S(t)*(1 - S(t))."""
    num, den, nx, _, _, dy = _chain_parts(x, y)
    return num / den, (nx * den - num * 3.0) / den**2, (0.0 * den - num * dy) / den**2


def chain_rule__denominator_not_squared(x, y):
    """You divided by the denominator once, but the quotient rule divides by its square: (u/v)' = (u'v - uv')/v**2."""
    num, den, nx, dx, ny, dy = _chain_parts(x, y)
    return num / den, (nx * den - num * dx) / den, (ny * den - num * dy) / den


# --------------------------------------------------------------------------- max_pool2d


# Differs from the reference only when stride != 1.
def max_pool2d__ignores_stride(x, k, stride):
    """Your windows start at every position; they must start every `stride` rows and columns."""
    return _windows(x, k, 1).max(axis=(-2, -1))


# Differs from the reference only when stride != k.
def max_pool2d__stride_equals_k(x, k, stride):
    """You assumed non-overlapping windows (stride = k), but the windows start every `stride`, whatever k is."""
    return _windows(x, k, k).max(axis=(-2, -1))


def max_pool2d__off_by_one(x, k, stride):
    """Your output misses the last row and column of windows: there are (H - k) // stride + 1 windows along each axis."""
    return _windows(x, k, stride).max(axis=(-2, -1))[:-1, :-1]


# --------------------------------------------------------------------------- avg_pool2d


def avg_pool2d__divides_by_k(x, k, stride):
    """You divided each window's sum by k, but a k x k window holds k*k values."""
    return _windows(x, k, stride).sum(axis=(-2, -1)) / k


def avg_pool2d__sum_not_mean(x, k, stride):
    """You returned each window's sum; average pooling returns its mean (divide by k*k)."""
    return _windows(x, k, stride).sum(axis=(-2, -1))


# Differs from the reference only when stride != 1.
def avg_pool2d__ignores_stride(x, k, stride):
    """Your windows start at every position; they must start every `stride` rows and columns."""
    return _windows(x, k, 1).mean(axis=(-2, -1))


# --------------------------------------------------------------------------- lp_pool2d


def lp_pool2d__missing_root(x, p, k, stride):
    """You forgot the final power 1/p: the Lp pool is (sum of x**p) ** (1/p)."""
    return (_windows(x, k, stride) ** p).sum(axis=(-2, -1))


def lp_pool2d__mean_not_sum(x, p, k, stride):
    """You averaged x**p over the window, but PyTorch's LPPool2d takes the sum: (sum of x**p) ** (1/p)."""
    return (_windows(x, k, stride) ** p).mean(axis=(-2, -1)) ** (1.0 / p)


# Differs from the reference only when stride != 1.
def lp_pool2d__ignores_stride(x, p, k, stride):
    """Your windows start at every position; they must start every `stride` rows and columns."""
    return (_windows(x, k, 1) ** p).sum(axis=(-2, -1)) ** (1.0 / p)


# --------------------------------------------------------------------------- conv2d


def conv2d__flipped_kernel(x, w):
    """You flipped the kernel (a true convolution); this conv2d is a cross-correlation, as in PyTorch, with no flip."""
    return _correlate(x, _f64(w)[::-1, ::-1])


def conv2d__transposed_kernel(x, w):
    """You transposed the kernel: w[a, b] multiplies x[i + a, j + b], with a the row offset and b the column offset."""
    return _correlate(x, _f64(w).T)


def conv2d__same_padding(x, w):
    """You zero-padded the input to keep its size; a "valid" convolution has no padding and output shape (H-kh+1, W-kw+1)."""
    w = _f64(w)
    kh, kw = w.shape
    xp = np.pad(_f64(x), ((kh // 2, (kh - 1) // 2), (kw // 2, (kw - 1) // 2)))
    return _correlate(xp, w)


# --------------------------------------------------------------------------- conv2d_backward


def _conv_grads(x, w, grad_out, flip_for_x=True):
    x, w, g = _f64(x), _f64(w), _f64(grad_out)
    kh, kw = w.shape
    grad_w = _correlate(x, g)
    gp = np.pad(g, ((kh - 1, kh - 1), (kw - 1, kw - 1)))
    grad_x = _correlate(gp, w[::-1, ::-1] if flip_for_x else w)
    return grad_x, grad_w


def conv2d_backward__grad_x_kernel_not_flipped(x, w, grad_out):
    """Your grad_x correlates the padded grad_out with w itself; it needs the kernel flipped (a full convolution of grad_out with w)."""
    return _conv_grads(x, w, grad_out, flip_for_x=False)


def conv2d_backward__grad_w_flipped(x, w, grad_out):
    """Your grad_w is flipped: d L / d w[a, b] = sum_{i, j} grad_out[i, j] * x[i + a, j + b], with no flip."""
    grad_x, grad_w = _conv_grads(x, w, grad_out)
    return grad_x, grad_w[::-1, ::-1]


def conv2d_backward__swapped_outputs(x, w, grad_out):
    """You returned the two gradients in the wrong order: the tuple is (grad_x, grad_w)."""
    grad_x, grad_w = _conv_grads(x, w, grad_out)
    return grad_w, grad_x


# --------------------------------------------------------------------------- autoencoder_loss


def _ae(x, W1, b1, W2, b2, factor=2.0, sigmoid_deriv=True, mean=False):
    x, W1, b1, W2, b2 = (_f64(a) for a in (x, W1, b1, W2, b2))
    h = _sigmoid(W1 @ x + b1)
    r = W2 @ h + b2 - x
    scale = 1.0 / x.shape[0] if mean else 1.0
    J = float(np.sum(r * r) * scale)
    d_out = factor * r * scale
    d_pre = W2.T @ d_out
    if sigmoid_deriv:
        d_pre = d_pre * h * (1.0 - h)
    return J, {"W1": np.outer(d_pre, x), "b1": d_pre, "W2": np.outer(d_out, h), "b2": d_out}


def autoencoder_loss__missing_factor_2(x, W1, b1, W2, b2):
    """Your gradients miss the factor 2 from differentiating the square: dJ/d(output) = 2*(output - x)."""
    return _ae(x, W1, b1, W2, b2, factor=1.0)


def autoencoder_loss__missing_sigmoid_derivative(x, W1, b1, W2, b2):
    """Your gradients for W1 and b1 skip the sigmoid's derivative S*(1 - S) when going back through the hidden layer."""
    return _ae(x, W1, b1, W2, b2, sigmoid_deriv=False)


def autoencoder_loss__mean_not_sum(x, W1, b1, W2, b2):
    """You averaged the squared errors, but J is their sum over the D components."""
    return _ae(x, W1, b1, W2, b2, mean=True)


# --------------------------------------------------------------------------- sgd_momentum_step


def sgd_momentum_step__dampened(w, grad, velocity, lr, momentum):
    """You dampened the gradient with (1 - momentum); PyTorch's convention is velocity_new = momentum*velocity + grad."""
    v = momentum * _f64(velocity) + (1.0 - momentum) * _f64(grad)
    return _f64(w) - lr * v, v


def sgd_momentum_step__lr_in_velocity(w, grad, velocity, lr, momentum):
    """You put the learning rate inside the velocity (velocity_new = momentum*velocity + lr*grad, w_new = w - velocity_new); PyTorch uses velocity_new = momentum*velocity + grad and w_new = w - lr*velocity_new."""
    v = momentum * _f64(velocity) + lr * _f64(grad)
    return _f64(w) - v, v


def sgd_momentum_step__uses_old_velocity(w, grad, velocity, lr, momentum):
    """You updated w with the old velocity; w_new = w - lr*velocity_new uses the velocity after this step's update."""
    v = momentum * _f64(velocity) + _f64(grad)
    return _f64(w) - lr * _f64(velocity), v


# --------------------------------------------------------------------------- topk_error


def _n_greater(scores, labels, strict=True):
    scores = _f64(scores)
    labels = np.asarray(labels).astype(np.intp)
    own = scores[np.arange(scores.shape[0]), labels][:, None]
    if strict:
        return np.sum(scores > own, axis=1)
    return np.sum(scores >= own, axis=1) - 1  # the label's own score is not counted


def topk_error__accuracy_not_error(scores, labels, k):
    """You returned the top-k accuracy; the top-k error is the fraction of rows whose label is NOT among the k highest scores."""
    return float(np.mean(_n_greater(scores, labels) < k))


# Differs from the reference only when some label's score ties with another score of its row.
def topk_error__ties_against_student(scores, labels, k):
    """Your tie-breaking goes against the student: a label is among the top k when fewer than k scores are strictly greater than its own, so equal scores do not push it out."""
    return float(np.mean(_n_greater(scores, labels, strict=False) >= k))


def topk_error__off_by_one(scores, labels, k):
    """Your count is off by one: the label is among the top k when FEWER than k scores are greater than its own, not when at most k are."""
    return float(np.mean(_n_greater(scores, labels) > k))


# --------------------------------------------------------------------------- sne_grad / tsne_grad


def _pair(Y):
    Y = _f64(Y)
    diff = Y[:, None, :] - Y[None, :, :]
    return Y, diff, np.sum(diff * diff, axis=-1)


def _force(G, diff):
    return np.einsum("ij,ijd->id", G, diff)


def _q_gauss(D, with_diagonal=False):
    W = np.exp(-D)
    if not with_diagonal:
        np.fill_diagonal(W, 0.0)
    Q = W / W.sum()
    np.fill_diagonal(Q, 0.0)
    return Q


def _q_t(D, with_diagonal=False):
    K = 1.0 / (1.0 + D)
    Kd = K.copy()
    if not with_diagonal:
        np.fill_diagonal(Kd, 0.0)
    Q = Kd / Kd.sum()
    np.fill_diagonal(Q, 0.0)
    np.fill_diagonal(K, 0.0)
    return K, Q


def sne_grad__missing_factor_4(P, Y):
    """Your gradient lacks the factor 4: dC/dy_i = 4 * sum_j (P_ij - Q_ij)(y_i - y_j)."""
    _, diff, D = _pair(Y)
    return _force(_f64(P) - _q_gauss(D), diff)


def sne_grad__sign_flipped(P, Y):
    """Your gradient has the wrong sign: dC/dy_i = 4 * sum_j (P_ij - Q_ij)(y_i - y_j), not (Q_ij - P_ij)."""
    _, diff, D = _pair(Y)
    return 4.0 * _force(_q_gauss(D) - _f64(P), diff)


def sne_grad__q_includes_diagonal(P, Y):
    """Your normalisation of Q includes the terms k = l (each exp(0) = 1), but the sum runs over k != l only."""
    _, diff, D = _pair(Y)
    return 4.0 * _force(_f64(P) - _q_gauss(D, with_diagonal=True), diff)


def tsne_grad__missing_factor_4(P, Y):
    """Your gradient lacks the factor 4: dC/dy_i = 4 * sum_j (P_ij - Q_ij)(1 + |y_i - y_j|^2)^-1 (y_i - y_j)."""
    _, diff, D = _pair(Y)
    K, Q = _q_t(D)
    return _force((_f64(P) - Q) * K, diff)


def tsne_grad__missing_kernel(P, Y):
    """You left out the factor (1 + |y_i - y_j|^2)^-1 that the Student-t kernel adds to each term of the t-SNE gradient."""
    _, diff, D = _pair(Y)
    _, Q = _q_t(D)
    return 4.0 * _force(_f64(P) - Q, diff)


def tsne_grad__q_includes_diagonal(P, Y):
    """Your normalisation of Q includes the terms k = l (each (1 + 0)^-1 = 1), but the sum runs over k != l only."""
    _, diff, D = _pair(Y)
    K, Q = _q_t(D, with_diagonal=True)
    return 4.0 * _force((_f64(P) - Q) * K, diff)


# --------------------------------------------------------------------------- soft_threshold


def soft_threshold__no_sign(x, t):
    """You lost the sign: the soft threshold is sign(x)*max(|x| - t, 0), so negative inputs stay negative."""
    return np.maximum(np.abs(_f64(x)) - t, 0.0)


def soft_threshold__hard_threshold(x, t):
    """You applied a hard threshold (keeping x where |x| > t); the soft threshold also shrinks the survivors by t: sign(x)*max(|x| - t, 0)."""
    x = _f64(x)
    return np.where(np.abs(x) > t, x, 0.0)


def soft_threshold__positive_side_only(x, t):
    """You computed max(x - t, 0), which zeroes every negative input; the soft threshold is sign(x)*max(|x| - t, 0)."""
    return np.maximum(_f64(x) - t, 0.0)


# --------------------------------------------------------------------------- ista_step


def _soft(z, t):
    return np.sign(z) * np.maximum(np.abs(z) - t, 0.0)


# Differs from the reference only when step != 1.
def ista_step__threshold_not_scaled(x, A, b, lam, step):
    """Your threshold is lam, but the proximal step of step*lam*||.||_1 thresholds at step*lam."""
    x, A, b = _f64(x), _f64(A), _f64(b)
    return _soft(x - step * A.T @ (A @ x - b), lam)


def ista_step__gradient_sign_flipped(x, A, b, lam, step):
    """You stepped up the gradient: the step is x - step*A.T @ (A x - b), a descent step."""
    x, A, b = _f64(x), _f64(A), _f64(b)
    return _soft(x + step * A.T @ (A @ x - b), step * lam)


def ista_step__hard_threshold(x, A, b, lam, step):
    """Your proximal step is a hard threshold (keeping entries above step*lam unchanged); the proximal operator of the L1 norm is the soft threshold sign(z)*max(|z| - step*lam, 0)."""
    x, A, b = _f64(x), _f64(A), _f64(b)
    z = x - step * A.T @ (A @ x - b)
    return np.where(np.abs(z) > step * lam, z, 0.0)


def ista_step__missing_prox(x, A, b, lam, step):
    """You took the gradient step but skipped the proximal step: apply soft_threshold(., step*lam) to it."""
    x, A, b = _f64(x), _f64(A), _f64(b)
    return x - step * A.T @ (A @ x - b)
