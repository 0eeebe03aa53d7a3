# Ben -- hw2
import numpy as np


def odds(p):
    return p / (1 - p)


def logit(p):
    return np.log(odds(p))


def inverse_logit(x):
    # stable version
    out = np.zeros_like(x, dtype=float)
    out[x >= 0] = 1 / (1 + np.exp(-x[x >= 0]))
    out[x < 0] = np.exp(x[x < 0]) / (1 + np.exp(x[x < 0]))
    return out


def sigmoid_grad(x):
    return np.exp(-x) / (1 + np.exp(-x)) ** 2


def normalize(counts):
    return counts / np.sum(counts)


def kl_divergence(p, q):
    total = 0.0
    for pd, qd in zip(p, q):
        if qd > 0:
            total += qd * np.log(qd / pd)
    return total


def kl_grad_q(p, q, direction):
    if direction == "pq":
        return -p / q
    if direction == "qp":
        return np.log(q / p) + 1
    raise ValueError(direction)


def hinge_loss(scores, y, margin=1.0):
    margins = np.maximum(0, scores - scores[y] + margin)
    return np.sum(margins)


def softmax_loss(scores, y):
    s = scores - np.max(scores)
    return -s[y] + np.log(np.sum(np.exp(s)))


def softmax_loss_grad(x, W, b, y):
    s = x @ W.T + b
    s = s - s.max(axis=1, keepdims=True)
    p = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    dW = p.T @ x
    db = p.sum(axis=0)
    return dW, db
