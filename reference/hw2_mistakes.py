"""Typical wrong answers to hw2, used by the grader to diagnose a failing submission.

Each function ``<graded function>__<mistake id>`` has the graded function's exact signature and
implements one realistic student mistake. Its docstring is one sentence addressed to the student,
shown as the diagnosis when the student's output matches it. Every mistake is deterministic and
differs clearly (relative difference > 1e-3) from the reference on generic random inputs; a few
can only differ on inputs that exercise the mistaken part, as noted in a comment.
"""

from __future__ import annotations

import numpy as np


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def _sigmoid(x):
    x = _f64(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _logsumexp(s):
    m = np.max(s)
    return m + np.log(np.sum(np.exp(s - m)))


def _kl(a, c):
    a, c = _f64(a), _f64(c)
    m = a > 0
    return float(np.sum(a[m] * np.log(a[m] / c[m])))


# --------------------------------------------------------------------------- odds


def odds__inverted(p):
    """Your odds are inverted: the odds of p are p/(1 - p), not (1 - p)/p."""
    p = _f64(p)
    return (1.0 - p) / p


def odds__one_plus_p(p):
    """You divided by 1 + p, but the odds of p are p/(1 - p)."""
    p = _f64(p)
    return p / (1.0 + p)


# --------------------------------------------------------------------------- logit


def logit__log_p_only(p):
    """You returned log(p), but the logit is the log of the odds, log(p/(1 - p))."""
    return np.log(_f64(p))


def logit__negated(p):
    """Your logit has the wrong sign: it is log(p/(1 - p)), not log((1 - p)/p)."""
    p = _f64(p)
    return np.log((1.0 - p) / p)


def logit__log10(p):
    """You used the base-10 logarithm; the logit uses the natural log, log(p/(1 - p))."""
    p = _f64(p)
    return np.log10(p / (1.0 - p))


# --------------------------------------------------------------------------- inverse_logit


def inverse_logit__sign_flipped(x):
    """Your inverse logit computes 1/(1 + exp(x)) instead of 1/(1 + exp(-x)): the sign in the exponent is flipped."""
    return _sigmoid(-_f64(x))


def inverse_logit__odds_only(x):
    """You returned exp(x), which are the odds; the probability is exp(x)/(1 + exp(x))."""
    return np.exp(_f64(x))


# --------------------------------------------------------------------------- sigmoid_grad


def sigmoid_grad__x_instead_of_s(x):
    """You computed x*(1 - x), but the derivative of the sigmoid is S(x)*(1 - S(x))."""
    x = _f64(x)
    return x * (1.0 - x)


def sigmoid_grad__missing_one_minus(x):
    """You returned S(x) itself; its derivative is S(x)*(1 - S(x))."""
    return _sigmoid(x)


def sigmoid_grad__negated(x):
    """Your derivative has the wrong sign: S'(x) = S(x)*(1 - S(x)) is positive everywhere."""
    s = _sigmoid(x)
    return s * (s - 1.0)


# --------------------------------------------------------------------------- normalize


def normalize__divides_by_max(counts):
    """You divided by the largest count, but a probability distribution must sum to 1: divide by the total count."""
    counts = _f64(counts)
    return counts / np.max(counts)


def normalize__divides_by_length(counts):
    """You divided by the number of entries, but a probability distribution must sum to 1: divide by the total count."""
    counts = _f64(counts)
    return counts / counts.shape[0]


def normalize__softmax(counts):
    """You applied a softmax, but the distribution must be proportional to the counts themselves: counts/sum(counts)."""
    counts = _f64(counts)
    e = np.exp(counts - counts.max())
    return e / e.sum()


# --------------------------------------------------------------------------- kl_divergence


def kl_divergence__reversed(p, q):
    """You computed KL(q||p); KL(p||q) = sum_d p_d*log(p_d/q_d) weights the log-ratio by p, and KL is not symmetric."""
    return _kl(q, p)


def kl_divergence__sign_flipped(p, q):
    """Your log-ratio is upside down: KL(p||q) = sum_d p_d*log(p_d/q_d), not sum_d p_d*log(q_d/p_d)."""
    return -_kl(p, q)


def kl_divergence__log2(p, q):
    """You used the base-2 logarithm; the KL divergence here uses the natural log."""
    return _kl(p, q) / np.log(2.0)


# --------------------------------------------------------------------------- kl_grad_q


def kl_grad_q__swapped_directions(p, q, direction):
    """You swapped the two directions: "pq" asks for the gradient of KL(p||q), which is -p/q, and "qp" for that of KL(q||p), which is log(q/p) + 1."""
    p, q = _f64(p), _f64(q)
    if direction == "pq":
        return np.log(q / p) + 1.0
    if direction == "qp":
        return -p / q
    raise ValueError(direction)


# Differs from the reference only for direction == "pq".
def kl_grad_q__pq_sign_flipped(p, q, direction):
    """Your gradient of KL(p||q) has the wrong sign: d/dq_d of p_d*log(p_d/q_d) is -p_d/q_d."""
    p, q = _f64(p), _f64(q)
    if direction == "pq":
        return p / q
    if direction == "qp":
        return np.log(q / p) + 1.0
    raise ValueError(direction)


# Differs from the reference only for direction == "qp".
def kl_grad_q__qp_missing_one(p, q, direction):
    """Your gradient of KL(q||p) misses the +1 from the product rule: d/dq_d of q_d*log(q_d/p_d) is log(q_d/p_d) + 1."""
    p, q = _f64(p), _f64(q)
    if direction == "pq":
        return -p / q
    if direction == "qp":
        return np.log(q / p)
    raise ValueError(direction)


# --------------------------------------------------------------------------- hinge_loss


def hinge_loss__includes_true_class(scores, y, margin=1.0):
    """You also summed the term j = y, which always adds the margin: the sum runs over the classes j != y only."""
    scores = _f64(scores)
    return float(np.sum(np.maximum(0.0, scores - scores[y] + margin)))


def hinge_loss__max_instead_of_sum(scores, y, margin=1.0):
    """You took the largest margin violation, but the multiclass SVM loss sums the violations over all j != y."""
    scores = _f64(scores)
    others = np.arange(scores.shape[0]) != y
    return float(np.max(np.maximum(0.0, scores[others] - scores[y] + margin)))


def hinge_loss__no_clamp(scores, y, margin=1.0):
    """You forgot the max(0, .): classes already beaten by more than the margin must contribute 0, not a negative amount."""
    scores = _f64(scores)
    others = np.arange(scores.shape[0]) != y
    return float(np.sum(scores[others] - scores[y] + margin))


# --------------------------------------------------------------------------- softmax_loss


def softmax_loss__missing_minus(scores, y):
    """You returned log(softmax(scores)[y]); the cross-entropy loss is its negative, -log(softmax(scores)[y])."""
    scores = _f64(scores)
    return float(scores[y] - _logsumexp(scores))


def softmax_loss__log2(scores, y):
    """You used the base-2 logarithm; the cross-entropy here uses the natural log."""
    scores = _f64(scores)
    return float((_logsumexp(scores) - scores[y]) / np.log(2.0))


# Differs from the reference only when y is not the highest-scoring class.
def softmax_loss__predicted_class(scores, y):
    """You used the predicted (highest-scoring) class instead of the true class y: the loss is -log(softmax(scores)[y])."""
    scores = _f64(scores)
    return float(_logsumexp(scores) - scores[np.argmax(scores)])


# --------------------------------------------------------------------------- softmax_loss_grad


def _dscores(x, W, b, y):
    x, W, b = _f64(x), _f64(W), _f64(b)
    y = np.asarray(y).astype(np.intp)
    s = x @ W.T + b
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    onehot = np.zeros_like(p)
    onehot[np.arange(len(y)), y] = 1.0
    return x, p, onehot


def softmax_loss_grad__sum_not_mean(x, W, b, y):
    """You summed the gradient over the batch; the loss is the mean over the batch, so divide by N."""
    x, p, onehot = _dscores(x, W, b, y)
    d = p - onehot
    return d.T @ x, d.sum(axis=0)


def softmax_loss_grad__missing_one_hot(x, W, b, y):
    """You forgot to subtract the one-hot labels: the gradient of the loss with respect to the scores is softmax(scores) - onehot(y)."""
    x, p, _ = _dscores(x, W, b, y)
    d = p / x.shape[0]
    return d.T @ x, d.sum(axis=0)


def softmax_loss_grad__batch_max_shift(x, W, b, y):
    """Your gradients are NaN or inf when a sample's scores are all far below the batch's largest score (by about 745 or more), though they are finite there; each row of scores is shifted by its own maximum."""
    x, W, b = _f64(x), _f64(W), _f64(b)
    y = np.asarray(y).astype(np.intp)
    s = x @ W.T + b
    with np.errstate(all="ignore"):
        e = np.exp(s - s.max())
        p = e / e.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    p /= x.shape[0]
    return p.T @ x, p.sum(axis=0)


def softmax_loss_grad__grad_W_transposed(x, W, b, y):
    """Your grad_W is transposed: it must have W's shape (K, D)."""
    x, p, onehot = _dscores(x, W, b, y)
    d = (p - onehot) / x.shape[0]
    return x.T @ d, d.sum(axis=0)
